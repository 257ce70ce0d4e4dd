package core

// growStack grows the calling goroutine's stack to about 16 KB in one step.
// A session's setup runs on fresh goroutines (quic-go's HTTP/3 request
// handling on the server, runClient on the client) whose call chains go
// deep; starting from the runtime's small initial stack they grow by
// doubling, and each doubling copies every frame of a deep stack
// (runtime.newstack/copystack: 8 % of setup_shared's CPU). Growing once
// while the stack is still shallow copies almost nothing. Stacks that stay
// mostly unused shrink again at the next GC. Not inlined, so that the pad
// leaves the stack when it returns.
//
//go:noinline
func growStack() {
	var pad [16 << 10]byte
	touchStack(pad[:])
}

//go:noinline
func touchStack(b []byte) {
	b[0] = 0
}
