package main

// Sized structs: the one mechanism behind the ABI rule of include/gowt.h
// ("ABI: SONAME AND GROWING STRUCTS"). Every struct with a struct_size goes
// through a layout: init fills it up to the caller's size, input calls read
// a zero-extended copy of the caller's prefix, output calls write only what
// the caller has room for.
//
// Appending a field to a sized struct needs no change here: the library's
// size and its reserved* fields are derived from the C type. Only min (the
// end of the 0.1.0 layout) is written down, once, and frozen.

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdlib.h>
#include <string.h>
#include "gowt.h"
*/
import "C"

import (
	"reflect"
	"strings"
	"unsafe"
)

// layout describes one sized struct of gowt.h.
type layout struct {
	name     string  // C type name, for messages
	hint     string  // how a caller sets struct_size right, for messages
	min      uintptr // end of the 0.1.0 layout's last field: the smallest size accepted
	size     uintptr // sizeof in this library
	reserved []field // reserved* fields: must be zero
	fields   []field // every named field (for the layout test)
}

type field struct {
	name      string
	off, size uintptr
}

// newLayout derives size and fields from the cgo type T (cgo names
// padding "_"; C's "type" becomes "_type").
func newLayout[T any](name, hint string, min uintptr) *layout {
	t := reflect.TypeFor[T]()
	l := &layout{name: name, hint: hint, min: min, size: t.Size()}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Name == "_" {
			continue
		}
		fd := field{f.Name, f.Offset, f.Type.Size()}
		l.fields = append(l.fields, fd)
		if strings.HasPrefix(f.Name, "reserved") {
			l.reserved = append(l.reserved, fd)
		}
	}
	return l
}

// The sized structs; min is frozen at the 0.1.0 layout (first released).
var (
	configLayout = newLayout[C.gowt_config]("gowt_config", "initialise it with gowt_config_init()",
		unsafe.Offsetof(C.gowt_config{}.www_dir)+unsafe.Sizeof(C.gowt_config{}.www_dir))
	pathOptionsLayout = newLayout[C.gowt_path_options]("gowt_path_options",
		"initialise it with gowt_path_options_init()",
		unsafe.Offsetof(C.gowt_path_options{}.protocols)+unsafe.Sizeof(C.gowt_path_options{}.protocols))
	connectOptionsLayout = newLayout[C.gowt_connect_options]("gowt_connect_options",
		"initialise it with gowt_connect_options_init()",
		unsafe.Offsetof(C.gowt_connect_options{}.new_connection)+unsafe.Sizeof(C.gowt_connect_options{}.new_connection))
	sessionInfoLayout = newLayout[C.gowt_session_info]("gowt_session_info", "set it to sizeof(gowt_session_info)",
		unsafe.Offsetof(C.gowt_session_info{}.shared_connection)+unsafe.Sizeof(C.gowt_session_info{}.shared_connection))
)

func (l *layout) checkSize(size uintptr) error {
	if size < l.min || size > C.GOWT_STRUCT_SIZE_MAX {
		return errArg("%s.struct_size is %d; it must be at least %d (the 0.1.0 layout) and at most %d (GOWT_STRUCT_SIZE_MAX): %s",
			l.name, size, l.min, C.GOWT_STRUCT_SIZE_MAX, l.hint)
	}
	return nil
}

func bytesAt(p unsafe.Pointer, n uintptr) []byte { return unsafe.Slice((*byte)(p), n) }

// init fills the caller's struct p of size bytes: src (a library struct of
// defaults) up to what both know, zeros beyond, struct_size = size.
func (l *layout) init(p unsafe.Pointer, size uintptr, src unsafe.Pointer) error {
	if p == nil {
		return errArg("%s is NULL", l.name)
	}
	if err := l.checkSize(size); err != nil {
		return err
	}
	dst := bytesAt(p, size)
	n := copy(dst, bytesAt(src, l.size))
	clear(dst[n:])
	*(*uint32)(p) = uint32(size)
	return nil
}

// read returns the caller's struct p as a library-sized struct in C memory
// (the caller's pointers stay out of Go's heap): the caller's bytes, then
// zeros (= defaults) for the fields it does not have. The caller's bytes
// beyond this library's struct, and its reserved fields, must be zero.
// Free the result with C.free.
func (l *layout) read(p unsafe.Pointer) (unsafe.Pointer, error) {
	size := uintptr(*(*uint32)(p))
	if err := l.checkSize(size); err != nil {
		return nil, err
	}
	src := bytesAt(p, size)
	if size > l.size {
		for i, b := range src[l.size:] {
			if b != 0 {
				return nil, errArg("%s: byte %d is not zero, but this library (%s) knows the struct only up to byte %d: a field of a newer gowt.h is set (upgrade libgowt or leave that field 0), or the struct was not initialised with its init function",
					l.name, l.size+uintptr(i), libVersion, l.size)
			}
		}
	}
	for _, r := range l.reserved {
		if r.off+r.size <= size {
			for _, b := range src[r.off : r.off+r.size] {
				if b != 0 {
					return nil, errArg("%s.%s is not zero: it is reserved in this library (%s); a newer gowt.h may use it (upgrade libgowt or leave that field 0)",
						l.name, r.name, libVersion)
				}
			}
		}
	}
	out := C.calloc(1, C.size_t(l.size))
	if out == nil {
		return nil, errInternal("out of memory")
	}
	copy(bytesAt(out, l.size), src[:min(size, l.size)])
	return out, nil
}

// write copies the library struct src into the caller's output struct p:
// up to what both know, zeros for the rest of the caller's struct, and
// struct_size = the bytes filled.
func (l *layout) write(p unsafe.Pointer, src unsafe.Pointer) {
	size := uintptr(*(*uint32)(p))
	dst := bytesAt(p, size)
	n := copy(dst, bytesAt(src, l.size))
	clear(dst[n:])
	*(*uint32)(p) = uint32(n)
}

// has reports whether a caller's struct of size bytes covers the field at
// offset off of n bytes.
func has(size uint32, off, n uintptr) bool { return uintptr(size) >= off+n }
