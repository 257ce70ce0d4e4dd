package main

import (
	"testing"
	"unsafe"
)

// TestLayouts checks the maintainer rules of gowt.h's sized structs: each
// starts with uint32_t struct_size; fields appended after the 0.1.0 layout
// start at or after its sizeof (never in its padding) and leave no
// implicit padding (reservedN fills it), so that "bytes beyond the
// library's sizeof must be zero" sees every field of a newer header.
func TestLayouts(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the 0.1.0 sizeofs below are those of 64-bit ABIs")
	}
	for _, l := range []*layout{configLayout, pathOptionsLayout, connectOptionsLayout, sessionInfoLayout} {
		if len(l.fields) == 0 || l.fields[0].name != "struct_size" || l.fields[0].off != 0 || l.fields[0].size != 4 {
			t.Errorf("%s: does not start with uint32_t struct_size", l.name)
		}
		if l.min > l.size || l.size > 4096 {
			t.Errorf("%s: min %d, size %d", l.name, l.min, l.size)
		}
		v01 := (l.min + 7) &^ 7 // sizeof of the 0.1.0 layout (all hold 8-byte fields)
		next := v01
		for _, f := range l.fields {
			switch {
			case f.off < l.min:
			case f.off != next:
				t.Errorf("%s.%s: at byte %d, want %d (appended fields go right after the previous one, never into padding)",
					l.name, f.name, f.off, next)
				next = f.off + f.size
			default:
				next = f.off + f.size
			}
		}
		if next != l.size {
			t.Errorf("%s: %d bytes of implicit tail padding: add a reservedN field", l.name, l.size-next)
		}
	}
	// 0.4.0's connect_response_timeout_ms took reserved0's place.
	if len(configLayout.reserved) != 0 {
		t.Errorf("gowt_config: reserved fields %v", configLayout.reserved)
	}
}
