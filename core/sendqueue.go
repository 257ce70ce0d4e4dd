package core

// sendQueue is a stream's push buffer: bytes in pooled readBufSize chunks,
// small sends packed into the last chunk's free space, so what it holds is
// the bytes queued plus at most one partly filled chunk, however many calls
// brought them. Guarded by the stream's mu.
type sendQueue struct {
	chunks []sendChunk
	n      int    // bytes queued
	gen    uint64 // bumped by clear: a write in flight must not pop
}

type sendChunk struct {
	b   []byte // b[r:len(b)] is queued; cap(b) == readBufSize, or len(b) for a ref
	r   int
	ref *SendRef // the application's buffer b, not a pooled copy
}

// SendRef is an application buffer a stream sends without copying it
// (gowt_stream_send_nocopy). The stream reads it until SEND_COMPLETE.
type SendRef struct {
	Ptr uintptr // the buffer's address, given back in SEND_COMPLETE
	Len int
	Ctx uintptr // the application's send context
}

// pushRef appends the application's buffer p itself. Its chunk has no free
// space (cap == len), so later copies never go into it.
func (q *sendQueue) pushRef(p []byte, ref *SendRef) {
	q.n += len(p)
	q.chunks = append(q.chunks, sendChunk{b: p[:len(p):len(p)], ref: ref})
}

// hasRefs reports whether an application buffer is queued.
func (q *sendQueue) hasRefs() bool {
	for _, ch := range q.chunks {
		if ch.ref != nil {
			return true
		}
	}
	return false
}

// frontRef is the application buffer at the front, if the front is one.
func (q *sendQueue) frontRef() *SendRef {
	if len(q.chunks) == 0 {
		return nil
	}
	return q.chunks[0].ref
}

// push appends a copy of p.
func (q *sendQueue) push(p []byte, c *Context) {
	q.n += len(p)
	for len(p) > 0 {
		if k := len(q.chunks); k > 0 {
			last := &q.chunks[k-1]
			if free := cap(last.b) - len(last.b); free > 0 {
				m := min(free, len(p))
				last.b = append(last.b, p[:m]...)
				p = p[m:]
				continue
			}
		}
		q.chunks = append(q.chunks, sendChunk{b: c.getBuf()[:0]})
	}
}

// front is the queued data of the first chunk (nil if empty). The sender
// writes it outside the lock: push only appends beyond it, and a chunk is
// recycled only by pop, which the sender alone calls.
func (q *sendQueue) front() []byte {
	if len(q.chunks) == 0 {
		return nil
	}
	f := q.chunks[0]
	return f.b[f.r:len(f.b):len(f.b)]
}

// pop drops k written bytes from the front chunk; when that finishes an
// application buffer, it returns it (for its SEND_COMPLETE).
func (q *sendQueue) pop(k int, c *Context) *SendRef {
	if k == 0 || len(q.chunks) == 0 {
		return nil
	}
	q.n -= k
	f := &q.chunks[0]
	f.r += k
	if f.r < len(f.b) {
		return nil
	}
	ref := f.ref
	if ref == nil {
		c.putBuf(f.b)
	}
	q.chunks[0] = sendChunk{}
	q.chunks = q.chunks[1:]
	return ref
}

// clear drops everything (reset, STOP_SENDING) and returns the application
// buffers dropped, but not the front one while the sender writes it
// (writing): quic-go may still read it, so the sender releases it when its
// write returns. The chunks go to the garbage collector, not the pool: the
// sender may still be writing one.
func (q *sendQueue) clear(writing bool) []*SendRef {
	var refs []*SendRef
	for i, ch := range q.chunks {
		if ch.ref != nil && (i > 0 || !writing) {
			refs = append(refs, ch.ref)
		}
	}
	q.chunks, q.n = nil, 0
	q.gen++
	return refs
}

// detachRefs replaces the application buffers queued behind skip chunks
// with copies of what is left of them, and returns them: the session ended,
// so their SEND_COMPLETE must come before the stream's FREE, and what was
// handed over before the close still goes out. Their bytes were charged to
// the stream's send buffer, so the copies stay within it.
func (q *sendQueue) detachRefs(skip int) []*SendRef {
	var refs []*SendRef
	for i := skip; i < len(q.chunks); i++ {
		ch := &q.chunks[i]
		if ch.ref == nil {
			continue
		}
		refs = append(refs, ch.ref)
		ch.b = append([]byte(nil), ch.b[ch.r:]...)
		ch.r, ch.ref = 0, nil
	}
	return refs
}
