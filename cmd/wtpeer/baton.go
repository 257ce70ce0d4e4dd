package main

// devious-baton (draft-frindell-webtrans-devious-baton-00), both roles.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/quic-go/quic-go/quicvarint"
	"github.com/quic-go/webtransport-go"
)

// Session error codes.
const (
	batonDAYAMN   = 0x01 // not enough stream credit at setup
	batonBRUH     = 0x02 // malformed message, unexpected stream data
	batonGAMEOVER = 0x03 // all baton streams reset
)

const (
	batonPadding    = 0x3FFF   // stream message padding while "fresh"
	batonPadLimit   = 64 << 10 // stop padding once this much was sent
	batonGoodbye    = "Have a nice day"
	batonStateReady = 1
	batonStateError = 5
	batonStateClose = 6
)

// batonParams are the URL query parameters.
type batonParams struct {
	Baton int // 1..255; 0 = let the server choose
	Count int // lanes, 1..256
}

func parseBatonQuery(q url.Values) (batonParams, error) {
	p := batonParams{Count: 1}
	if v := q.Get("version"); v != "" && v != "0" {
		return p, fmt.Errorf("unsupported version %q", v)
	}
	if v := q.Get("baton"); v != "" {
		b, err := strconv.Atoi(v)
		if err != nil || b < 0 || b > 255 {
			return p, fmt.Errorf("bad baton %q", v)
		}
		p.Baton = b
	}
	if v := q.Get("count"); v != "" {
		c, err := strconv.Atoi(v)
		if err != nil || c < 1 || c > 256 {
			return p, fmt.Errorf("bad count %q", v)
		}
		p.Count = c
	}
	return p, nil
}

// ---------------------------------------------------------------------------
// Messages: varint padding length, padding, one byte of baton. Then FIN.

func batonMessage(v byte, pad int) []byte {
	b := quicvarint.Append(nil, uint64(pad))
	b = append(b, make([]byte, pad)...)
	return append(b, v)
}

var errEmptyStream = errors.New("FIN before any byte")

type malformedError struct{ why string }

func (e *malformedError) Error() string { return "malformed baton message: " + e.why }

// readBaton reads one message and the FIN after it. A stream that ends
// without any byte gives errEmptyStream.
func readBaton(r io.Reader) (v byte, n int64, err error) {
	cr := &countingReader{r: r}
	br := bufio.NewReader(cr)
	pad, err := quicvarint.Read(br)
	if err != nil {
		if err == io.EOF && cr.n == 0 {
			return 0, cr.n, errEmptyStream
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return 0, cr.n, &malformedError{"truncated padding length"}
		}
		return 0, cr.n, err
	}
	if _, err := io.CopyN(io.Discard, br, int64(pad)); err != nil {
		if err == io.EOF {
			return 0, cr.n, &malformedError{"FIN inside padding"}
		}
		return 0, cr.n, err
	}
	v, err = br.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, cr.n, &malformedError{"FIN before the baton"}
		}
		return 0, cr.n, err
	}
	if _, err := br.ReadByte(); err != io.EOF {
		if err == nil {
			return 0, cr.n, &malformedError{"bytes after the baton"}
		}
		return 0, cr.n, err
	}
	return v, cr.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ---------------------------------------------------------------------------
// The game.

type batonLane struct {
	used     bool
	first    int
	lastSent int // -1: nothing yet
	lastRecv int
	awaiting bool // we sent lastSent and expect lastSent+1
	done     bool // 0 sent or received
}

type arrival int

const (
	onUni      arrival = iota // a uni stream the peer opened
	onPeerBidi                // a bidi stream the peer opened
	onOwnBidi                 // a bidi stream we opened
)

func (a arrival) String() string {
	return [...]string{"uni", "peer_bidi", "own_bidi"}[a]
}

type batonGame struct {
	sess    *webtransport.Session
	server  bool
	lg      *jsonLog
	verbose bool

	mu        sync.Mutex
	lanes     []batonLane
	turns     int
	bytesSent int64
	bytesRecv int64
	dgSent    int
	dgRecv    int
	dgBad     int
	protoErr  string

	mis *misbehaviour // nil: play by the rules
}

func newBatonGame(sess *webtransport.Session, server bool, count int, lg *jsonLog, verbose bool) *batonGame {
	g := &batonGame{sess: sess, server: server, lg: lg, verbose: verbose, lanes: make([]batonLane, count)}
	for i := range g.lanes {
		g.lanes[i] = batonLane{first: -1, lastSent: -1, lastRecv: -1}
	}
	return g
}

// start runs the accept loops; the server also throws the first batons.
func (g *batonGame) start(initial byte) {
	ctx := g.sess.Context()
	go func() {
		for {
			rs, err := g.sess.AcceptUniStream(ctx)
			if err != nil {
				return
			}
			go g.readStream(rs, int64(rs.StreamID()), onUni, nil, false)
		}
	}()
	go func() {
		for {
			s, err := g.sess.AcceptStream(ctx)
			if err != nil {
				return
			}
			go g.readStream(s, int64(s.StreamID()), onPeerBidi, s, false)
		}
	}()
	go func() {
		for {
			d, err := g.sess.ReceiveDatagram(ctx)
			if err != nil {
				return
			}
			v, _, err := readBaton(bytesReader(d))
			g.mu.Lock()
			if err != nil {
				g.dgBad++
			} else {
				g.dgRecv++
			}
			g.mu.Unlock()
			if g.verbose {
				g.lg.Event("baton_datagram", "value", v, "ok", err == nil)
			}
		}
	}()
	if g.server {
		g.mu.Lock()
		for i := range g.lanes {
			g.lanes[i] = batonLane{used: true, first: int(initial), lastSent: int(initial), lastRecv: -1, awaiting: true}
		}
		g.mu.Unlock()
		for i := range g.lanes {
			go g.sendUni(initial, i)
		}
	}
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// message builds a stream message for v, padded like picoquic pads.
func (g *batonGame) message(v byte) []byte {
	g.mu.Lock()
	pad := 0
	if g.bytesSent < batonPadLimit {
		pad = batonPadding
	}
	m := batonMessage(v, pad)
	g.bytesSent += int64(len(m))
	g.mu.Unlock()
	return m
}

func (g *batonGame) ended() bool { return g.sess.Context().Err() != nil }

// fail closes the session with a baton error code.
func (g *batonGame) fail(code uint32, why string) {
	if g.ended() {
		return
	}
	g.mu.Lock()
	if g.protoErr == "" {
		g.protoErr = why
	}
	g.mu.Unlock()
	g.lg.Event("baton_error", "code", code, "why", why)
	_ = g.sess.CloseWithError(webtransport.SessionErrorCode(code), why)
}

// streamFailed handles a failed read or write on a baton stream.
func (g *batonGame) streamFailed(id int64, op string, err error) {
	if g.ended() {
		return // the session is going away; stream errors are expected
	}
	var me *malformedError
	switch {
	case errors.Is(err, errEmptyStream):
		g.fail(batonBRUH, fmt.Sprintf("stream %d: FIN before the baton", id))
	case errors.As(err, &me):
		g.fail(batonBRUH, fmt.Sprintf("stream %d: %v", id, err))
	default:
		if code, _, ok := streamErrCode(err); ok {
			ev := "reset"
			if op == "write" {
				ev = "stop_sending"
			}
			g.lg.Event(ev, "stream", id, "code", code)
			// Like picoquic: any reset or STOP_SENDING ends the game.
			g.fail(batonGAMEOVER, fmt.Sprintf("stream %d: %s code %d", id, ev, code))
			return
		}
		g.fail(batonBRUH, fmt.Sprintf("stream %d: %s: %v", id, op, err))
	}
}

// readStream reads one baton message from r and plays it. sentZero: we
// sent 0 on this bidi stream of ours, so an empty FIN is the expected answer.
func (g *batonGame) readStream(r io.Reader, id int64, how arrival, bidi *webtransport.Stream, sentZero bool) {
	if g.maybeStopSending(r, id, how) {
		return
	}
	v, n, err := readBaton(r)
	g.mu.Lock()
	g.bytesRecv += n
	g.mu.Unlock()
	if err != nil {
		if sentZero && errors.Is(err, errEmptyStream) {
			if g.verbose {
				g.lg.Event("baton_empty_fin", "stream", id)
			}
			return
		}
		if bidi != nil {
			bidi.CancelWrite(0x02) // WHATEVER
		}
		g.streamFailed(id, "read", err)
		return
	}
	g.play(v, id, how, bidi)
}

func (g *batonGame) play(v byte, id int64, how arrival, bidi *webtransport.Stream) {
	g.mu.Lock()
	lane := -1
	for i := range g.lanes {
		l := &g.lanes[i]
		if l.used && l.awaiting && !l.done && byte(l.lastSent+1) == v {
			lane = i
			break
		}
	}
	if lane < 0 {
		for i := range g.lanes {
			if !g.lanes[i].used {
				lane = i
				g.lanes[i].used = true
				g.lanes[i].first = int(v)
				break
			}
		}
	}
	if lane < 0 {
		g.mu.Unlock()
		g.fail(batonBRUH, fmt.Sprintf("baton %d on stream %d fits no lane", v, id))
		return
	}
	g.turns++
	l := &g.lanes[lane]
	l.lastRecv = int(v)
	l.awaiting = false
	next := v + 1
	if v == 0 {
		l.done = true
	} else {
		l.lastSent = int(next)
		l.awaiting = next != 0
		l.done = next == 0
	}
	allDone := true
	for i := range g.lanes {
		allDone = allDone && g.lanes[i].used && g.lanes[i].done
	}
	g.mu.Unlock()

	if g.verbose {
		g.lg.Event("baton", "lane", lane, "value", v, "stream", id, "on", how.String())
	}
	if v == 0 {
		g.lg.Event("lane_done", "lane", lane, "received_zero", true)
		if how == onPeerBidi {
			_ = bidi.Close() // the answer to a 0 is an empty FIN
		}
		if allDone {
			g.lg.Event("game_over", "turns", g.turnsNow())
			_ = g.sess.CloseWithError(0, batonGoodbye)
		}
		return
	}
	if (!g.server && v%7 == 1) || (g.server && v%7 == 0) {
		if err := g.sess.SendDatagram(batonMessage(v, 0)); err == nil {
			g.mu.Lock()
			g.dgSent++
			g.mu.Unlock()
		}
	}
	if next == 0 {
		g.lg.Event("lane_done", "lane", lane, "sent_zero", true)
	}
	if g.misRelay(next, lane, id, how, bidi) {
		return
	}
	switch how {
	case onUni:
		g.sendBidi(next)
	case onPeerBidi:
		if _, err := bidi.Write(g.message(next)); err != nil {
			g.streamFailed(id, "write", err)
			return
		}
		_ = bidi.Close()
	case onOwnBidi:
		g.sendUni(next, lane)
	}
}

func (g *batonGame) failed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.protoErr != ""
}

func (g *batonGame) turnsNow() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.turns
}

func (g *batonGame) sendUni(v byte, lane int) {
	s, err := g.sess.OpenUniStreamSync(g.sess.Context())
	if err != nil {
		if !g.ended() {
			g.fail(batonDAYAMN, fmt.Sprintf("lane %d: no uni stream: %v", lane, err))
		}
		return
	}
	if _, err := s.Write(g.message(v)); err != nil {
		g.streamFailed(int64(s.StreamID()), "write", err)
		return
	}
	_ = s.Close()
}

func (g *batonGame) sendBidi(v byte) {
	s, err := g.sess.OpenStreamSync(g.sess.Context())
	if err != nil {
		if !g.ended() {
			g.fail(batonDAYAMN, fmt.Sprintf("no bidi stream: %v", err))
		}
		return
	}
	id := int64(s.StreamID())
	if _, err := s.Write(g.message(v)); err != nil {
		g.streamFailed(id, "write", err)
		return
	}
	_ = s.Close()
	g.readStream(s, id, onOwnBidi, nil, v == 0)
}

// outcome reports whether the game succeeded, once the session is over.
type batonOutcome struct {
	ok    bool
	why   string
	close closeInfo
}

func (g *batonGame) finish(info closeInfo) batonOutcome {
	g.mu.Lock()
	defer g.mu.Unlock()
	o := batonOutcome{ok: true, close: info}
	switch {
	case info.Err != "" || info.Code != 0:
		o.ok, o.why = false, fmt.Sprintf("session ended with code %d %q %s", info.Code, info.Reason, info.Err)
	case g.protoErr != "":
		o.ok, o.why = false, g.protoErr
	case g.turns == 0:
		o.ok, o.why = false, "no baton turns"
	}
	if o.ok {
		for i, l := range g.lanes {
			if !l.done || (l.lastSent != 0 && l.lastSent != 0xff) {
				o.ok, o.why = false, fmt.Sprintf("lane %d unfinished (last sent %d, last received %d)", i, l.lastSent, l.lastRecv)
				break
			}
		}
	}
	return o
}

// report prints pico_baton's summary lines.
func (g *batonGame) report(lg *jsonLog, state int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	lg.Text("Final baton state: %d", state)
	lg.Text("Nb turns: %d", g.turns)
	for i, l := range g.lanes {
		lg.Text("Lane %d, first baton: 0x%02x, last sent: 0x%02x, last received: 0x%02x",
			i, byte(l.first), byte(l.lastSent), byte(l.lastRecv))
	}
	lg.Text("Baton bytes received: %d", g.bytesRecv)
	lg.Text("Baton bytes sent: %d", g.bytesSent)
	lg.Text("datagrams received: %d", g.dgRecv)
	lg.Text("datagrams sent: %d", g.dgSent)
	lg.Text("datagrams malformed: %d", g.dgBad)
}

// ---------------------------------------------------------------------------
// Server role.

func (s *peerServer) serveBaton(w http.ResponseWriter, r *http.Request, lg *jsonLog) {
	p, err := parseBatonQuery(r.URL.Query())
	if err != nil {
		lg.Event("refused", "status", http.StatusBadRequest, "why", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if p.Baton == 0 {
		p.Baton = 1 + rand.IntN(255)
	}
	sess, ok := s.upgrade(w, r, lg)
	if !ok {
		return
	}
	lg.Event("accepted", "path", r.URL.Path, "baton", p.Baton, "count", p.Count)
	g := newBatonGame(sess, true, p.Count, lg, false)
	var wait <-chan time.Time
	if s.opts.Misbehave != "" {
		g.mis = newMisbehaviour(s.opts.Misbehave, s.tracer)
		t := time.NewTimer(s.opts.misWait())
		defer t.Stop()
		wait = t.C
	}
	g.start(byte(p.Baton))
	timedOut := false
	select {
	case <-sess.Context().Done():
	case <-wait:
		timedOut = true
		lg.Event("timeout", "after", s.opts.misWait().String())
		_ = sess.CloseWithError(batonBORED, "Bored")
	case <-s.ctx.Done():
		_ = sess.CloseWithError(0, "server shutting down")
	}
	info := sessionCloseInfo(sess)
	lg.Event("session_closed", info.kv()...)
	if g.mis != nil {
		if timedOut {
			info = closeInfo{Code: -1, Err: fmt.Sprintf("the other side did not close the session within %v", s.opts.misWait())}
		}
		s.verdict(g.mis.verdict(info, lg))
		return
	}
	o := g.finish(info)
	lg.Event("baton_result", "ok", o.ok, "why", o.why, "turns", g.turnsNow())
}

// ---------------------------------------------------------------------------
// Client role.

type batonClientOptions struct {
	URL     string
	Timeout time.Duration
	NoFC    bool
	Verbose bool
	// Misbehave: break one rule (see misbehave.go) and judge the server's
	// reaction instead of the game.
	Misbehave string
}

// runBatonClient plays one game; nil means success (the session was closed
// with code 0 after every lane reached 0).
func runBatonClient(o batonClientOptions, lg *jsonLog) error {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return err
	}
	p, err := parseBatonQuery(u.Query())
	if err != nil {
		return err
	}
	host, err := hostPort(o.URL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), o.Timeout,
		fmt.Errorf("timeout after %v", o.Timeout))
	defer cancel()
	var tr *frameTracer
	if o.Misbehave != "" {
		if !validMisbehave(o.Misbehave) {
			return fmt.Errorf("unknown misbehaviour %q", o.Misbehave)
		}
		tr = newFrameTracer(lg)
	}
	c, err := dialClientConnConfig(ctx, host, o.NoFC, 0, quicConfigFor(o.Misbehave, tr))
	if err != nil {
		return err
	}
	defer c.close(250 * time.Millisecond)
	sess, err := dialSession(ctx, c, o.URL, lg)
	if err != nil {
		lg.Text("Final baton state: 0")
		lg.Text("Nb turns: 0")
		return err
	}
	g := newBatonGame(sess, false, p.Count, lg, o.Verbose)
	if tr != nil {
		g.mis = newMisbehaviour(o.Misbehave, tr)
	}
	g.start(0)
	select {
	case <-sess.Context().Done():
	case <-ctx.Done():
		lg.Event("timeout", "after", o.Timeout.String())
		state := batonStateReady
		if g.failed() {
			state = batonStateError
		}
		g.report(lg, state)
		if g.mis != nil {
			return g.mis.verdict(closeInfo{Code: -1,
				Err: fmt.Sprintf("the other side did not close the session within %v", o.Timeout)}, lg)
		}
		return fmt.Errorf("timeout after %v, %d turns", o.Timeout, g.turnsNow())
	}
	info := sessionCloseInfo(sess)
	lg.Event("session_closed", info.kv()...)
	g.report(lg, batonStateClose)
	if g.mis != nil {
		return g.mis.verdict(info, lg)
	}
	out := g.finish(info)
	if !out.ok {
		return errors.New(out.why)
	}
	return nil
}
