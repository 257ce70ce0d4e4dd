package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestWorkloadsShort runs every workload with -short in-process and checks
// that each emits sane values in the documented JSON format.
func TestWorkloadsShort(t *testing.T) {
	opts := options{short: true}
	goroutinesBefore := runtime.NumGoroutine()
	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			res, err := w.run(opts)
			if err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			if len(res) == 0 {
				t.Fatalf("%s: no result", w.name)
			}
			wantLines := 1
			if w.name == "datagrams" {
				wantLines = len(datagramRates)
			}
			if len(res) != wantLines {
				t.Fatalf("%s: %d results, want %d", w.name, len(res), wantLines)
			}
			for _, r := range res {
				r.Workload = w.name
				var out, human bytes.Buffer
				if err := emit(&out, &human, r); err != nil {
					t.Fatal(err)
				}
				t.Logf("%s", strings.TrimSpace(human.String()))
				checkLine(t, w.name, out.String())
			}
			settle()
		})
	}
	// Every workload must clean up after itself.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutinesBefore+5 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutinesBefore+5 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines: %d before, %d after all workloads\n%s", goroutinesBefore, n, buf)
	}
}

// checkLine decodes one output line and checks the fields per workload.
func checkLine(t *testing.T, workload, line string) {
	t.Helper()
	if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("%s: output is not exactly one line: %q", workload, line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("%s: bad JSON %q: %v", workload, line, err)
	}
	if m["impl"] != "go" || m["workload"] != workload {
		t.Fatalf("%s: bad impl/workload in %q", workload, line)
	}
	value, ok := m["value"].(float64)
	if !ok {
		t.Fatalf("%s: value missing in %q", workload, line)
	}
	metric, _ := m["metric"].(string)
	wantKeys := []string{"impl", "workload", "metric", "value"}
	switch workload {
	case "upload", "download", "streams100":
		if metric != "MB/s" || value <= 0 {
			t.Fatalf("%s: bad result %q", workload, line)
		}
	case "setup_seq", "setup_conc8", "setup_shared":
		if metric != "sessions/s" || value <= 0 {
			t.Fatalf("%s: bad result %q", workload, line)
		}
	case "idle_mem":
		if metric != "KB/session" || value <= 0 || m["both_sides"] != true {
			t.Fatalf("%s: bad result %q", workload, line)
		}
		if n, _ := m["sessions"].(float64); n != 100 {
			t.Fatalf("%s: sessions = %v, want 100 in short mode", workload, m["sessions"])
		}
		wantKeys = append(wantKeys, "sessions", "both_sides")
	case "datagrams":
		if metric != "delivered_fraction" || value < 0 || value > 1 {
			t.Fatalf("%s: bad result %q", workload, line)
		}
		rate, ok1 := m["rate"].(float64)
		sent, ok2 := m["sent"].(float64)
		delivered, ok3 := m["delivered"].(float64)
		if !ok1 || !ok2 || !ok3 || rate < 0 || sent <= 0 || delivered < 0 || delivered > sent {
			t.Fatalf("%s: bad rate/sent/delivered in %q", workload, line)
		}
		if got := delivered / sent; got-value > 1e-3 || value-got > 1e-3 {
			t.Fatalf("%s: value %v does not match delivered/sent %v", workload, value, got)
		}
		if rate > 0 {
			// Pacing must hit the schedule: 0.5 s at rate.
			want := rate * 0.5
			if sent < 0.95*want || sent > want {
				t.Fatalf("%s: paced at %v/s sent %v, want about %v", workload, rate, sent, want)
			}
		}
		wantKeys = append(wantKeys, "rate", "sent", "delivered")
	default:
		t.Fatalf("no check for workload %q", workload)
	}
	if len(m) != len(wantKeys) {
		t.Fatalf("%s: keys %v, want %v", workload, m, wantKeys)
	}
	for _, k := range wantKeys {
		if _, ok := m[k]; !ok {
			t.Fatalf("%s: key %q missing in %q", workload, k, line)
		}
	}
	// Field order is part of the format.
	if !strings.HasPrefix(line, `{"impl":"go","workload":"`+workload+`","metric":"`) {
		t.Fatalf("%s: field order: %q", workload, line)
	}
}

func TestSelectWorkloads(t *testing.T) {
	all, err := selectWorkloads("")
	if err != nil || len(all) != len(workloads) {
		t.Fatalf("default: %d workloads, err %v", len(all), err)
	}
	sel, err := selectWorkloads("download, upload")
	if err != nil || len(sel) != 2 || sel[0].name != "download" || sel[1].name != "upload" {
		t.Fatalf("selection: %v, err %v", sel, err)
	}
	if _, err := selectWorkloads("upload,nope"); err == nil {
		t.Fatal("unknown workload accepted")
	}
}
