package main

// Misbehaving baton peers: "wtpeer baton-client -misbehave MODE" and
// "wtpeer baton-server -misbehave MODE" break one rule of the devious-baton
// draft once, then report how the other side reacted and whether that is
// what the draft asks for.
//
//	wrong-value     relay v+2 (a value that fits no lane)       -> BRUH 0x02
//	trailing-bytes  bytes after the baton byte, then FIN        -> BRUH 0x02
//	early-fin       padding length + padding, FIN, no baton     -> BRUH 0x02
//	stop-sending    STOP_SENDING (IDC) on the first baton stream
//	                we receive instead of reading it            -> RESET_STREAM
//	                WHATEVER 0x02 on that stream, GAME_OVER 0x03
//	reset           RESET_STREAM (I_LIED) on the first stream we
//	                would relay on instead of sending           -> GAME_OVER 0x03,
//	                and WHATEVER 0x02 back when the other side's half of
//	                that stream is still open (a bidi stream we open; a
//	                stream we open carries its WebTransport header alone
//	                for 100 ms before the reset)
//
// The misbehaviour happens once, on the first opportunity; other lanes play
// normally (use count=1 for wrong-value: a free lane could adopt v+2).
//
// Stream codes are seen at the QUIC level (a qlog tracer on the
// connection): after our STOP_SENDING or our own reset the application API
// of quic-go no longer reports the peer's RESET_STREAM. Every RESET_STREAM
// and STOP_SENDING received is logged as {"ev":"peer_reset"} and
// {"ev":"peer_stop_sending"}; the verdict is {"ev":"misbehave_verdict"}.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
	"github.com/quic-go/webtransport-go"
)

// Stream error codes of the draft.
const (
	batonIDC      = 0x01 // our STOP_SENDING
	batonWHATEVER = 0x02 // reset answering STOP_SENDING or a reset on a bidi
	batonILIED    = 0x03 // a spontaneous reset
	batonBORED    = 0x04 // session: waited too long
)

var misbehaveModes = []string{"wrong-value", "trailing-bytes", "early-fin", "stop-sending", "reset"}

func validMisbehave(m string) bool {
	for _, x := range misbehaveModes {
		if x == m {
			return true
		}
	}
	return false
}

// misbehaveStreamWindow is the stream receive window in stop-sending mode.
// The first baton message is padded to 16 KiB; with a 4 KiB window the
// sender cannot finish the stream before our STOP_SENDING arrives. (A
// STOP_SENDING on a stream whose data and FIN were all delivered is
// legitimately ignored, and the baton would then be silently lost.)
const misbehaveStreamWindow = 4 << 10

// resetDelay separates the header of a stream we open from our reset of it.
const resetDelay = 100 * time.Millisecond

// quicConfigFor returns the QUIC configuration for a peer, with a frame
// tracer and the stop-sending window when misbehaving.
func quicConfigFor(mode string, tr *frameTracer) *quic.Config {
	c := quicConfig()
	if tr != nil {
		c.Tracer = tr.trace
	}
	if mode == "stop-sending" {
		c.InitialStreamReceiveWindow = misbehaveStreamWindow
	}
	return c
}

// ---------------------------------------------------------------------------
// frameTracer records the RESET_STREAM and STOP_SENDING frames received on
// every connection it traces.

type streamFrameRec struct {
	Kind     string // "reset" or "stop_sending"
	StreamID int64
	Code     uint64 // WebTransport code when WT is true, else the raw code
	WT       bool
	Reliable int64 // reset_stream_at reliable size
}

type frameTracer struct {
	lg *jsonLog

	mu     sync.Mutex
	frames []streamFrameRec
	notify chan struct{}
}

func newFrameTracer(lg *jsonLog) *frameTracer {
	return &frameTracer{lg: lg, notify: make(chan struct{}, 1)}
}

func (t *frameTracer) trace(context.Context, bool, quic.ConnectionID) qlogwriter.Trace {
	return t
}

// qlogwriter.Trace
func (t *frameTracer) AddProducer() qlogwriter.Recorder { return t }
func (t *frameTracer) SupportsSchemas(string) bool      { return false }
func (t *frameTracer) Close() error                     { return nil }
func (t *frameTracer) RecordEvent(ev qlogwriter.Event) {
	p, ok := ev.(qlog.PacketReceived)
	if !ok {
		return
	}
	for _, f := range p.Frames {
		switch fr := f.Frame.(type) {
		case *qlog.ResetStreamFrame:
			t.add(streamFrameRec{Kind: "reset", StreamID: int64(fr.StreamID), Reliable: int64(fr.ReliableSize)},
				uint64(fr.ErrorCode))
		case *qlog.StopSendingFrame:
			t.add(streamFrameRec{Kind: "stop_sending", StreamID: int64(fr.StreamID)}, uint64(fr.ErrorCode))
		}
	}
}

func (t *frameTracer) add(r streamFrameRec, wire uint64) {
	r.Code, r.WT = wtCodeFromHTTP(wire)
	if !r.WT {
		r.Code = wire
	}
	t.mu.Lock()
	for _, x := range t.frames {
		if x.Kind == r.Kind && x.StreamID == r.StreamID && x.Code == r.Code && x.WT == r.WT {
			t.mu.Unlock()
			return // a retransmission
		}
	}
	t.frames = append(t.frames, r)
	t.mu.Unlock()
	kv := []any{"stream", r.StreamID, "code", r.Code, "wt_code", r.WT}
	if r.Kind == "reset" {
		kv = append(kv, "reliable_size", r.Reliable)
		t.lg.Event("peer_reset", kv...)
	} else {
		t.lg.Event("peer_stop_sending", kv...)
	}
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

func (t *frameTracer) snapshot() []streamFrameRec {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]streamFrameRec(nil), t.frames...)
}

// resetOn returns the codes of the RESET_STREAM frames received on a stream.
func (t *frameTracer) resetOn(id int64) []streamFrameRec {
	var out []streamFrameRec
	for _, r := range t.snapshot() {
		if r.Kind == "reset" && r.StreamID == id {
			out = append(out, r)
		}
	}
	return out
}

// waitResetOn waits up to d for a RESET_STREAM on stream id.
func (t *frameTracer) waitResetOn(id int64, d time.Duration) []streamFrameRec {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if r := t.resetOn(id); len(r) > 0 {
			return r
		}
		select {
		case <-t.notify:
		case <-deadline.C:
			return t.resetOn(id)
		}
	}
}

// ---------------------------------------------------------------------------
// The misbehaviour, hooked into batonGame.

// misbehaviour is the state of a misbehaving game.
type misbehaviour struct {
	mode   string
	tracer *frameTracer

	mu        sync.Mutex
	triggered bool
	target    int64 // the stream we misbehaved on
	kind      string
	// wantWhatever: the other side still had its half of the target
	// stream open, so the draft wants a WHATEVER reset on it.
	wantWhatever bool
	done         chan struct{} // closed once triggered
}

func newMisbehaviour(mode string, tr *frameTracer) *misbehaviour {
	return &misbehaviour{mode: mode, tracer: tr, target: -1, done: make(chan struct{})}
}

// take claims the one misbehaviour of this game.
func (m *misbehaviour) take() bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.triggered {
		return false
	}
	m.triggered = true
	return true
}

func (m *misbehaviour) record(lg *jsonLog, target int64, kind string, wantWhatever bool, kv ...any) {
	m.mu.Lock()
	m.target, m.kind, m.wantWhatever = target, kind, wantWhatever
	m.mu.Unlock()
	lg.Event("misbehaved", append([]any{"mode", m.mode, "stream", target, "stream_kind", kind}, kv...)...)
	close(m.done)
}

type readCanceler interface {
	CancelRead(webtransport.StreamErrorCode)
}

// maybeStopSending: in stop-sending mode, the first baton stream we receive
// gets STOP_SENDING instead of being read. Reports whether it did.
func (g *batonGame) maybeStopSending(r io.Reader, id int64, how arrival) bool {
	if g.mis == nil || g.mis.mode != "stop-sending" {
		return false
	}
	rc, ok := r.(readCanceler)
	if !ok || !g.mis.take() {
		return false
	}
	g.mis.record(g.lg, id, how.String(), true, "code", batonIDC)
	rc.CancelRead(batonIDC)
	return true
}

// misRelay relays next in a misbehaving way when this is the first relay of
// a wrong-value, trailing-bytes, early-fin or reset game. Reports whether it
// did (the caller then does nothing else).
func (g *batonGame) misRelay(next byte, lane int, id int64, how arrival, bidi *webtransport.Stream) bool {
	if g.mis == nil || g.mis.mode == "stop-sending" || !g.mis.take() {
		return false
	}
	var msg []byte
	switch g.mis.mode {
	case "wrong-value":
		msg = g.message(next + 1)
	case "trailing-bytes":
		msg = append(g.message(next), 0xBA, 0xAD)
	case "early-fin":
		m := g.message(next)
		msg = m[:len(m)-1]
	}
	kv := []any{"value", next, "on", how.String(), "lane", lane}
	switch how {
	case onPeerBidi:
		// The other side's half is finished (we read its FIN): it cannot
		// reset it any more, so no WHATEVER is expected on a reset.
		if g.mis.mode == "reset" {
			g.mis.record(g.lg, id, "peer_bidi", false, append(kv, "code", batonILIED)...)
			bidi.CancelWrite(batonILIED)
			return true
		}
		g.mis.record(g.lg, id, "peer_bidi", false, kv...)
		if _, err := bidi.Write(msg); err != nil {
			g.streamFailed(id, "write", err)
			return true
		}
		_ = bidi.Close()
	case onUni:
		s, err := g.sess.OpenStreamSync(g.sess.Context())
		if err != nil {
			g.fail(batonDAYAMN, fmt.Sprintf("no bidi stream: %v", err))
			return true
		}
		sid := int64(s.StreamID())
		if g.mis.mode == "reset" {
			// The other side's half of this new stream is open: the draft
			// wants it reset with WHATEVER in answer.
			g.mis.record(g.lg, sid, "own_bidi", true, append(kv, "code", batonILIED)...)
			go g.drain(s, sid)
			// Send the WebTransport stream header alone and let it arrive
			// before the reset: webtransport-go v0.13.0 (our own peer)
			// sometimes fails to read the header of a stream that is reset
			// right away (RESET_STREAM_AT overtaking the STREAM frame) and
			// then drops the stream with H3_GENERAL_PROTOCOL_ERROR.
			_, _ = s.Write(nil)
			select {
			case <-time.After(resetDelay):
			case <-g.sess.Context().Done():
			}
			s.CancelWrite(batonILIED)
			return true
		}
		g.mis.record(g.lg, sid, "own_bidi", false, kv...)
		if _, err := s.Write(msg); err != nil {
			g.streamFailed(sid, "write", err)
			return true
		}
		_ = s.Close()
		go g.drain(s, sid)
	case onOwnBidi:
		s, err := g.sess.OpenUniStreamSync(g.sess.Context())
		if err != nil {
			g.fail(batonDAYAMN, fmt.Sprintf("no uni stream: %v", err))
			return true
		}
		sid := int64(s.StreamID())
		if g.mis.mode == "reset" {
			g.mis.record(g.lg, sid, "own_uni", false, append(kv, "code", batonILIED)...)
			_, _ = s.Write(nil)
			select {
			case <-time.After(resetDelay):
			case <-g.sess.Context().Done():
			}
			s.CancelWrite(batonILIED)
			return true
		}
		g.mis.record(g.lg, sid, "own_uni", false, kv...)
		if _, err := s.Write(msg); err != nil {
			g.streamFailed(sid, "write", err)
			return true
		}
		_ = s.Close()
	}
	return true
}

// drain reads what the other side sends back on a stream we misbehaved on
// and logs how it ended.
func (g *batonGame) drain(r io.Reader, id int64) {
	n, err := io.Copy(io.Discard, r)
	kv := []any{"stream", id, "bytes", n}
	if code, remote, ok := streamErrCode(err); ok {
		kv = append(kv, "reset_code", code, "remote", remote)
	} else if err != nil {
		kv = append(kv, "error", err)
	} else {
		kv = append(kv, "fin", true)
	}
	g.lg.Event("target_read", kv...)
}

// misbehaveWant is what the draft asks of the other side.
func misbehaveWantClose(mode string) uint64 {
	switch mode {
	case "stop-sending", "reset":
		return batonGAMEOVER
	default:
		return batonBRUH
	}
}

// verdict judges the other side once the session is over (or the wait
// ran out: info.Code -1 with Err set). nil: it behaved as the draft says.
func (m *misbehaviour) verdict(info closeInfo, lg *jsonLog) error {
	m.mu.Lock()
	triggered := m.triggered
	m.mu.Unlock()
	if triggered { // taken: wait for the stream to be known
		select {
		case <-m.done:
		case <-time.After(time.Second):
			triggered = false
		}
	}
	m.mu.Lock()
	target, kind, wantWhatever := m.target, m.kind, m.wantWhatever
	m.mu.Unlock()
	var fails []string
	wantClose := misbehaveWantClose(m.mode)
	var resets []streamFrameRec
	if !triggered {
		fails = append(fails, "the game ended before we could misbehave")
	} else {
		if info.Err != "" || info.Code != int64(wantClose) || !info.Remote {
			fails = append(fails, fmt.Sprintf("want the other side to close the session with 0x%02x, got code %d reason %q remote %v %s",
				wantClose, info.Code, info.Reason, info.Remote, info.Err))
		}
		resets = m.tracer.resetOn(target)
		if wantWhatever {
			resets = m.tracer.waitResetOn(target, time.Second)
			ok := false
			for _, r := range resets {
				ok = ok || (r.WT && r.Code == batonWHATEVER)
				// quic-go answers a STOP_SENDING itself with a reset carrying
				// the STOP_SENDING's own code before the application can
				// choose one; gowt documents this deviation, so IDC is
				// accepted as the answer here.
				ok = ok || (m.mode == "stop-sending" && r.WT && r.Code == batonIDC)
			}
			if !ok {
				fails = append(fails, fmt.Sprintf("want RESET_STREAM WHATEVER (0x02) on stream %d, got %s",
					target, describeResets(resets)))
			}
		}
	}
	var all []string
	for _, r := range m.tracer.snapshot() {
		all = append(all, fmt.Sprintf("%s:%d:%s", r.Kind, r.StreamID, codeString(r)))
	}
	sort.Strings(all)
	var err error
	if len(fails) > 0 {
		err = errors.New(strings.Join(fails, "; "))
	}
	var codes []string
	for _, r := range resets {
		codes = append(codes, codeString(r))
	}
	lg.Event("misbehave_verdict",
		"mode", m.mode, "ok", err == nil,
		"close_code", info.Code, "close_reason", info.Reason, "close_remote", info.Remote, "close_error", info.Err,
		"want_close", wantClose,
		"target_stream", target, "target_kind", kind,
		"want_whatever", wantWhatever, "target_resets", codes,
		"stream_frames", all,
		"why", errString(err))
	return err
}

func codeString(r streamFrameRec) string {
	if r.WT {
		return fmt.Sprintf("0x%02x", r.Code)
	}
	return fmt.Sprintf("raw:0x%x", r.Code)
}

func describeResets(rs []streamFrameRec) string {
	if len(rs) == 0 {
		return "no RESET_STREAM"
	}
	var s []string
	for _, r := range rs {
		s = append(s, codeString(r))
	}
	return "RESET_STREAM " + strings.Join(s, ", ")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
