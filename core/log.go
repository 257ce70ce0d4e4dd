package core

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Log levels (public GOWT_LOG_*): a message is kept when its level is at
// most the context's level; LogOff keeps none.
const (
	LogOff   = 0
	LogError = 1
	LogWarn  = 2
	LogInfo  = 3
	LogDebug = 4
)

// Log components: where a message comes from.
const (
	compCore  = "gowt"    // our own diagnostics
	compQUIC  = "quic"    // connection life (handshakes, closes)
	compHTTP3 = "http3"   // quic-go's http3 package (its slog output)
	compSess  = "session" // session life and protocol errors
)

// logQueueBytes bounds the log messages waiting for delivery; beyond it
// messages are dropped and counted, and the count is logged when there is
// room again.
const logQueueBytes = 256 << 10

// LogEntry is one log message.
type LogEntry struct {
	Level     int
	Component string
	Message   string
}

func (e LogEntry) size() int { return len(e.Component) + len(e.Message) + 32 }

// SetLogLevel sets the most verbose level delivered (LogOff: none). The
// Deliverer's DeliverLogs receives them, on the delivering thread.
func (c *Context) SetLogLevel(level int) error {
	if level < LogOff || level > LogDebug {
		return errf(ErrInvalidArg, "log level %d is not 0..4 (OFF..DEBUG)", level)
	}
	c.logLevel.Store(int32(level))
	return nil
}

// logs reports whether messages of level are wanted (cheap: check before
// formatting).
func (c *Context) logs(level int) bool { return int32(level) <= c.logLevel.Load() }

func (c *Context) logf(level int, comp, format string, a ...any) {
	if !c.logs(level) {
		return
	}
	c.q.pushLog(LogEntry{Level: level, Component: comp, Message: fmt.Sprintf(format, a...)})
}

// pushLog queues a message; it never blocks.
func (q *eventQueue) pushLog(e LogEntry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.logBytes+e.size() > logQueueBytes {
		q.logsDropped++
		return
	}
	if q.logsDropped > 0 {
		d := LogEntry{Level: LogWarn, Component: compCore,
			Message: fmt.Sprintf("%d log messages dropped (more than %d bytes waiting)", q.logsDropped, logQueueBytes)}
		q.logs = append(q.logs, d)
		q.logBytes += d.size()
		q.logsDropped = 0
	}
	q.logs = append(q.logs, e)
	q.logBytes += e.size()
	q.signalLocked()
}

func (q *eventQueue) hasLogs() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.logs) > 0
}

// popLogs takes every waiting message.
func (q *eventQueue) popLogs() []LogEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.logs
	q.logs = nil
	q.logBytes = 0
	q.clearSignalLocked()
	return l
}

// deliverLogs runs the log callback for waiting messages (deliverMu held).
func (c *Context) deliverLogs() {
	logs := c.q.popLogs()
	if len(logs) == 0 {
		return
	}
	c.asDeliverer(func() { c.deliverer.DeliverLogs(c, logs) })
}

// slogHandler routes quic-go's slog output (http3.Server.Logger and
// http3.Transport.Logger, its only public logging hook) to the context.
type slogHandler struct {
	c     *Context
	attrs string
	group string
}

func slogLevel(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return LogError
	case l >= slog.LevelWarn:
		return LogWarn
	case l >= slog.LevelInfo:
		return LogInfo
	}
	return LogDebug
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.c.logs(slogLevel(l))
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		h.appendAttr(&b, a)
		return true
	})
	h.c.q.pushLog(LogEntry{Level: slogLevel(r.Level), Component: compHTTP3, Message: b.String()})
	return nil
}

func (h *slogHandler) appendAttr(b *strings.Builder, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	b.WriteByte(' ')
	if h.group != "" {
		b.WriteString(h.group)
		b.WriteByte('.')
	}
	fmt.Fprintf(b, "%s=%v", a.Key, a.Value)
}

func (h *slogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		h.appendAttr(&b, a)
	}
	return &slogHandler{c: h.c, attrs: b.String(), group: h.group}
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	g := name
	if h.group != "" {
		g = h.group + "." + name
	}
	return &slogHandler{c: h.c, attrs: h.attrs, group: g}
}

func (c *Context) slogger() *slog.Logger { return slog.New(&slogHandler{c: c}) }
