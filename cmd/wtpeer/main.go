// Command wtpeer is an independent WebTransport test peer built directly on
// github.com/quic-go/webtransport-go (v0.13.0) and quic-go (v0.64.1). gowt's
// test suite runs it against the C library and against core (as a
// subprocess of core/interop_test.go) in both directions to prove wire
// interoperability. It imports nothing from gowt, and it is a Go module of
// its own (cmd/wtpeer/go.mod): webtransport-go v0.13.0 does not build with
// the newer quic-go gowt's core uses, and one module build has one quic-go.
// Build it with "go build -C cmd/wtpeer -o DIR/wtpeer .".
//
// Usage:
//
//	wtpeer server -addr 127.0.0.1:0 [-cert F -key F] [-nofc] [-max-data N] [-timeout D]
//	wtpeer client -url https://127.0.0.1:PORT/path -scenario NAME [-insecure] [-timeout 10s] [-nofc]
//	              [-max-data N] [-code N] [-reason R] [-status S] [-size N] [-reset-back R,S]
//	wtpeer baton-server -addr 127.0.0.1:0 [-cert F -key F] [-nofc] [-timeout D] [-misbehave MODE [-wait 10s]]
//	wtpeer baton-client -url "https://127.0.0.1:PORT/baton?version=0&baton=N&count=K" [-timeout 10s] [-nofc] [-v] [-misbehave MODE]
//
// -misbehave MODE (wrong-value, trailing-bytes, early-fin, stop-sending,
// reset; see misbehave.go) breaks one rule of the baton draft and judges the
// other side's reaction: the verdict is {"ev":"misbehave_verdict",...} and
// the result line; the exit status is 0 only when the other side reacted as
// the draft says. A misbehaving server judges the first game and exits
// (after -timeout, default 20s, at the latest).
//
// The servers print "LISTENING <port> <sha256 hex of the certificate DER>"
// once ready and serve until killed, until stdin is closed (unless stdin is
// /dev/null) or until -timeout (0 = none). Server paths: /echo, /open,
// /reset, /close, /drain, /wait, /refuse404, /refuse400 (see server.go).
// Client scenarios: echo, accept-streams, reset, closed-by-server, close,
// refused, multi (see client.go). -max-data is the WebTransport receive window
// of each session (default 16 MiB); -size the bytes of each bidi echo (echo:
// 100 KiB, multi: 16 KiB); -code/-reason also set echo's closing code and
// reason (default 7, "client done"); -reset-back R,S makes reset then send
// RESET_STREAM R and STOP_SENDING S on a second bidi stream of its own.
//
// Every observation is one JSON object per line on stdout ({"ev":...}); a
// client ends with {"result":"pass"} or {"result":"fail","why":...} and exits
// 0 only on pass. The baton client also prints pico_baton's summary lines.
// The client never verifies the server certificate.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  wtpeer server       -addr 127.0.0.1:0 [-cert F -key F] [-nofc] [-max-data N] [-timeout D]
  wtpeer client       -url https://HOST:PORT/PATH -scenario NAME [-insecure] [-timeout 10s] [-nofc]
                      [-max-data N] [-code N] [-reason R] [-status S] [-size N] [-reset-back R,S]
  wtpeer baton-server -addr 127.0.0.1:0 [-cert F -key F] [-nofc] [-timeout D] [-misbehave MODE [-wait D]]
  wtpeer baton-client -url "https://HOST:PORT/baton?version=0&baton=N&count=K" [-timeout 10s] [-nofc] [-v] [-misbehave MODE]
misbehave modes: wrong-value trailing-bytes early-fin stop-sending reset
scenarios: echo accept-streams reset closed-by-server close refused multi`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		usage(stderr)
		return 2
	}
	lg := newJSONLog(stdout)
	switch args[0] {
	case "server", "baton-server":
		return runServerCmd(args[0] == "baton-server", args[1:], lg, stderr)
	case "client":
		return runClientCmd(args[1:], lg, stderr)
	case "baton-client":
		return runBatonClientCmd(args[1:], lg, stderr)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	default:
		usage(stderr)
		return 2
	}
}

func runServerCmd(baton bool, args []string, lg *jsonLog, stderr io.Writer) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o serverOptions
	var timeout time.Duration
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:0", "UDP address to listen on")
	fs.StringVar(&o.CertFile, "cert", "", "certificate PEM (default: self-signed ECDSA P-256)")
	fs.StringVar(&o.KeyFile, "key", "", "private key PEM")
	fs.BoolVar(&o.NoFC, "nofc", false, "disable WebTransport flow control")
	fs.Int64Var(&o.MaxData, "max-data", defaultMaxData, "WebTransport receive window of a session, bytes")
	fs.DurationVar(&timeout, "timeout", 0, "exit after this long (0: run until killed or stdin closes; misbehaving: 20s)")
	if baton {
		fs.StringVar(&o.Misbehave, "misbehave", "", "break a rule in the first game, judge the client, exit: "+strings.Join(misbehaveModes, "|"))
		fs.DurationVar(&o.MisWait, "wait", 10*time.Second, "misbehaving: how long the client has to close the session")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wtpeer: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.Misbehave != "" && !validMisbehave(o.Misbehave) {
		fmt.Fprintf(stderr, "wtpeer: -misbehave: want one of %s\n", strings.Join(misbehaveModes, ", "))
		return 2
	}
	o.Baton = baton
	if o.Misbehave != "" && timeout <= 0 {
		timeout = 20 * time.Second
	}
	srv, err := startServer(o, lg)
	if err != nil {
		fmt.Fprintln(stderr, "wtpeer:", err)
		return 1
	}
	lg.Text("LISTENING %d %s", srv.Port, srv.Fingerprint)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	var timer <-chan time.Time
	if timeout > 0 {
		timer = time.After(timeout)
	}
	// A misbehaving server judges one game, then exits with its verdict.
	rc := 0
	select {
	case <-sig:
	case <-stdinClosed():
	case <-timer:
		if o.Misbehave != "" {
			lg.Result(fmt.Errorf("no game judged within %v", timeout))
			rc = 1
		}
	case err := <-srv.Verdicts: // nil channel unless misbehaving
		lg.Result(err)
		if err != nil {
			rc = 1
		}
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	lg.Event("server_stopped")
	return rc
}

// stdinClosed is closed when stdin reaches EOF. When stdin is /dev/null (a
// background job) it never fires: the server then runs until killed.
func stdinClosed() <-chan struct{} {
	ch := make(chan struct{})
	in, err1 := os.Stdin.Stat()
	null, err2 := os.Stat(os.DevNull)
	if err1 != nil || (err2 == nil && os.SameFile(in, null)) {
		return ch
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(ch)
	}()
	return ch
}

// watchdog ends the process if a client overruns its timeout by 3 s, so a
// test never hangs on a stuck peer.
func watchdog(timeout time.Duration, lg *jsonLog) *time.Timer {
	return time.AfterFunc(timeout+3*time.Second, func() {
		lg.Result(errors.New("watchdog: client did not finish in time"))
		os.Exit(1)
	})
}

func runClientCmd(args []string, lg *jsonLog, stderr io.Writer) int {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := clientOptions{}
	var code int64
	var reason string
	fs.StringVar(&o.URL, "url", "", "https://HOST:PORT/PATH")
	fs.StringVar(&o.Scenario, "scenario", "echo", "echo|accept-streams|reset|closed-by-server|close|refused|multi")
	fs.Bool("insecure", true, "skip certificate verification (always on)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "give up after this long")
	fs.BoolVar(&o.NoFC, "nofc", false, "disable WebTransport flow control")
	fs.Int64Var(&code, "code", -1, "close: code to send; closed-by-server: code expected (default 4242)")
	fs.StringVar(&reason, "reason", "", `close: reason to send; closed-by-server: reason expected (default "server says bye")`)
	fs.IntVar(&o.Status, "status", 404, "refused: expected HTTP status")
	fs.IntVar(&o.Size, "size", 0, "echo, multi: bytes of each bidi echo (default 100 KiB, 16 KiB)")
	fs.Int64Var(&o.MaxData, "max-data", defaultMaxData, "WebTransport receive window of a session, bytes")
	resetBack := fs.String("reset-back", "", "reset: then send RESET_STREAM R and STOP_SENDING S on a stream of our own (R,S)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *resetBack != "" {
		var r, s uint32
		if n, err := fmt.Sscanf(*resetBack, "%d,%d", &r, &s); n != 2 || err != nil {
			fmt.Fprintln(stderr, "wtpeer client: -reset-back wants two codes, R,S")
			return 2
		}
		o.ResetBack = &[2]uint32{r, s}
	}
	o.Code = code
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "reason" {
			o.Reason = &reason
		}
	})
	if o.URL == "" {
		fmt.Fprintln(stderr, "wtpeer client: -url is required")
		return 2
	}
	if code > 0xffffffff {
		fmt.Fprintln(stderr, "wtpeer client: -code must fit in 32 bits")
		return 2
	}
	defer watchdog(o.Timeout, lg).Stop()
	err := runClient(o, lg)
	lg.Result(err)
	if err != nil {
		return 1
	}
	return 0
}

func runBatonClientCmd(args []string, lg *jsonLog, stderr io.Writer) int {
	fs := flag.NewFlagSet("baton-client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o batonClientOptions
	fs.StringVar(&o.URL, "url", "", "https://HOST:PORT/PATH?version=0&baton=N&count=K")
	fs.Bool("insecure", true, "skip certificate verification (always on)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "give up after this long")
	fs.BoolVar(&o.NoFC, "nofc", false, "disable WebTransport flow control")
	fs.BoolVar(&o.Verbose, "v", false, "log every baton and datagram")
	fs.StringVar(&o.Misbehave, "misbehave", "", "break a rule once and judge the server: "+strings.Join(misbehaveModes, "|"))
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.Misbehave != "" && !validMisbehave(o.Misbehave) {
		fmt.Fprintf(stderr, "wtpeer baton-client: -misbehave: want one of %s\n", strings.Join(misbehaveModes, ", "))
		return 2
	}
	if o.URL == "" {
		fmt.Fprintln(stderr, "wtpeer baton-client: -url is required")
		return 2
	}
	defer watchdog(o.Timeout, lg).Stop()
	err := runBatonClient(o, lg)
	lg.Result(err)
	if err != nil {
		return 1
	}
	return 0
}
