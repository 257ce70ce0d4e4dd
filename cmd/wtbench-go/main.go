// Command wtbench-go runs WebTransport workloads directly on webtransport-go
// over loopback (client and server in this one process) and prints one JSON
// line per result on stdout, so that a driver can put the numbers side by side
// with the same workloads run through gowt's C API.
//
// Usage:
//
//	wtbench-go [-w upload,download,...] [-short]
//
// Output (stdout, one line per result):
//
//	{"impl":"go","workload":"upload","metric":"MB/s","value":221.3}
//	{"impl":"go","workload":"datagrams","metric":"delivered_fraction","value":0.93,"rate":20000,"sent":40000,"delivered":37200}
//	{"impl":"go","workload":"setup_seq","metric":"sessions/s","value":185.2}
//	{"impl":"go","workload":"idle_mem","metric":"KB/session","value":94.1,"sessions":1000,"both_sides":true}
//
// A human-readable line for each result goes to stderr.
//
// It is a Go module of its own (cmd/wtbench-go/go.mod), pinned to
// webtransport-go v0.13.0 and the quic-go it builds with (v0.64.1); gowt's
// core may use a newer quic-go. Build it with
// "go build -C cmd/wtbench-go -o DIR/wtbench-go .".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// result is one output line. Field order is the JSON field order.
type result struct {
	Impl      string  `json:"impl"`
	Workload  string  `json:"workload"`
	Metric    string  `json:"metric"`
	Value     float64 `json:"value"`
	Rate      *int    `json:"rate,omitempty"`      // datagrams only; 0 = unpaced
	Sent      *int64  `json:"sent,omitempty"`      // datagrams only
	Delivered *int64  `json:"delivered,omitempty"` // datagrams only
	Sessions  int     `json:"sessions,omitempty"`  // idle_mem only
	BothSides bool    `json:"both_sides,omitempty"`
	// CPUs is the process CPU time (user+system, client and server
	// together) spent in the workload, set when it has one result.
	CPUs *float64 `json:"cpu_s,omitempty"`

	human string // the stderr line
}

// options are the knobs shared by all workloads.
type options struct {
	short bool
}

// scale returns full, or full/10 in short mode.
func (o options) scale(full int) int {
	if o.short {
		return max(full/10, 1)
	}
	return full
}

// dur returns full, or the short-mode duration.
func (o options) dur(full, short time.Duration) time.Duration {
	if o.short {
		return short
	}
	return full
}

type workload struct {
	name string
	run  func(options) ([]result, error)
}

// workloads in the order they run by default.
var workloads = []workload{
	{"upload", runUpload},
	{"download", runDownload},
	{"streams100", runStreams100},
	{"datagrams", runDatagrams},
	{"setup_seq", runSetupSeq},
	{"setup_conc8", runSetupConc8},
	{"setup_shared", runSetupShared},
	{"idle_mem", runIdleMem},
}

func workloadNames() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.name
	}
	return names
}

// selectWorkloads parses the -w value ("" means all).
func selectWorkloads(spec string) ([]workload, error) {
	if strings.TrimSpace(spec) == "" || spec == "all" {
		return workloads, nil
	}
	var out []workload
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		found := false
		for _, w := range workloads {
			if w.name == name {
				out = append(out, w)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(workloadNames(), ","))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no workload selected")
	}
	return out, nil
}

// round keeps d decimals so the JSON stays readable.
func round(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

func emit(stdout, stderr io.Writer, r result) error {
	r.Impl = "go"
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		return fmt.Errorf("%s: value is not a finite number", r.Workload)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return err
	}
	if r.human != "" {
		fmt.Fprintf(stderr, "go %-12s %s\n", r.Workload, r.human)
	}
	return nil
}

// cpuNow is the process CPU time (user + system) in seconds.
func cpuNow() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6 +
		float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6
}

// settle releases the previous workload's garbage so it does not disturb the
// next one.
func settle() {
	runtime.GC()
	time.Sleep(100 * time.Millisecond)
}

func main() {
	wFlag := flag.String("w", "", "comma-separated workloads to run (default all): "+strings.Join(workloadNames(), ","))
	short := flag.Bool("short", false, "shrink sizes and durations about 10x (smoke test)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %v\n", flag.Args())
		os.Exit(2)
	}
	sel, err := selectWorkloads(*wFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	opts := options{short: *short}
	failed := false
	for _, w := range sel {
		cpu0 := cpuNow()
		res, err := w.run(opts)
		if len(res) == 1 {
			c := round(cpuNow()-cpu0, 3)
			res[0].CPUs = &c
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "go %-12s FAILED: %v\n", w.name, err)
			failed = true
		}
		for _, r := range res {
			r.Workload = w.name
			if err := emit(os.Stdout, os.Stderr, r); err != nil {
				fmt.Fprintf(os.Stderr, "go %-12s FAILED: %v\n", w.name, err)
				failed = true
			}
		}
		settle()
	}
	if failed {
		os.Exit(1)
	}
}
