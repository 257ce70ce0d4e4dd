package core

import (
	"errors"
	"fmt"
)

// Code is a gowt error code; the values are the public gowt_error values of
// include/gowt.h and are frozen.
type Code int

const (
	OK             Code = 0
	ErrInvalidArg  Code = -1
	ErrNotFound    Code = -2
	ErrClosed      Code = -3
	ErrWouldBlock  Code = -4
	ErrTooLarge    Code = -5
	ErrBusy        Code = -6
	ErrTLS         Code = -7
	ErrNetwork     Code = -8
	ErrProtocol    Code = -9
	ErrLimit       Code = -10
	ErrState       Code = -11
	ErrInternal    Code = -12
	ErrRange       Code = -13
	ErrUnsupported Code = -14
)

var codeText = map[Code]string{
	OK:             "GOWT_OK: success",
	ErrInvalidArg:  "GOWT_ERR_INVALID_ARG: invalid argument",
	ErrNotFound:    "GOWT_ERR_NOT_FOUND: unknown context, session, stream or path",
	ErrClosed:      "GOWT_ERR_CLOSED: closed",
	ErrWouldBlock:  "GOWT_ERR_WOULD_BLOCK: would block, retry after the writable event",
	ErrTooLarge:    "GOWT_ERR_TOO_LARGE: too large",
	ErrBusy:        "GOWT_ERR_BUSY: not allowed from inside a callback",
	ErrTLS:         "GOWT_ERR_TLS: certificate, key or trust problem",
	ErrNetwork:     "GOWT_ERR_NETWORK: network failure",
	ErrProtocol:    "GOWT_ERR_PROTOCOL: protocol error",
	ErrLimit:       "GOWT_ERR_LIMIT: limit reached",
	ErrState:       "GOWT_ERR_STATE: not valid in the current state",
	ErrInternal:    "GOWT_ERR_INTERNAL: internal error",
	ErrRange:       "GOWT_ERR_RANGE: output buffer too small",
	ErrUnsupported: "GOWT_ERR_UNSUPPORTED: unsupported",
}

// Strerror names a code; unknown codes give "unknown error".
func Strerror(c int) string {
	if s, ok := codeText[Code(c)]; ok {
		return s
	}
	return "unknown error"
}

// Error carries a public code and a message for the context's last error.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errf(c Code, format string, a ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, a...)}
}

// CodeOf maps any error to a public code (ErrInternal when it is not ours).
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrInternal
}
