package core

import (
	"fmt"
	"testing"
)

// TestConfigLimitsFitVarint: limits a SETTINGS value cannot carry are
// refused by NewContext's validation (regression: 1<<62 was accepted, and
// quic-go panicked when it encoded the SETTINGS frame).
func TestConfigLimitsFitVarint(t *testing.T) {
	for _, set := range []func(*Config, int64){
		func(c *Config, v int64) { c.MaxIncomingData = v },
		func(c *Config, v int64) { c.MaxIncomingBidi = v },
		func(c *Config, v int64) { c.MaxIncomingUni = v },
		func(c *Config, v int64) { c.MaxSessions = int(v) },
	} {
		for _, v := range []int64{maxSettingValue, maxSettingValue + 1, 1<<63 - 1} {
			cfg := DefaultConfig()
			set(&cfg, v)
			err := cfg.validate()
			if (err == nil) != (v <= maxSettingValue) {
				t.Errorf("%s: validate(%d) = %v", fmt.Sprint(cfg.MaxSessions, cfg.MaxIncomingData, cfg.MaxIncomingBidi, cfg.MaxIncomingUni), v, err)
			}
		}
	}
}
