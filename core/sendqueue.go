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
	b []byte // b[r:len(b)] is queued; cap(b) == readBufSize
	r int
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

// pop drops k written bytes from the front chunk.
func (q *sendQueue) pop(k int, c *Context) {
	if k == 0 || len(q.chunks) == 0 {
		return
	}
	q.n -= k
	f := &q.chunks[0]
	f.r += k
	if f.r < len(f.b) {
		return
	}
	c.putBuf(f.b)
	q.chunks[0] = sendChunk{}
	q.chunks = q.chunks[1:]
}

// clear drops everything (reset, STOP_SENDING). The chunks go to the
// garbage collector, not the pool: the sender may still be writing one.
func (q *sendQueue) clear() {
	q.chunks, q.n = nil, 0
	q.gen++
}
