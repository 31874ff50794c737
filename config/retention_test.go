package config

import (
	"testing"
	"time"
)

func TestActivityRetention(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 90 * 24 * time.Hour, true},
		{"30d", 30 * 24 * time.Hour, true},
		{"0d", 0, true},
		{"0", 0, true},
		{"2160h", 2160 * time.Hour, true},
		{"-1d", 0, false},
		{"-1h", 0, false},
		{"d", 0, false},
		{"ninety", 0, false},
	} {
		c, err := Load(getenv(map[string]string{"ACTIVITY_RETENTION": tt.value}))
		switch {
		case tt.ok && err != nil:
			t.Errorf("ACTIVITY_RETENTION=%q: %v", tt.value, err)
		case !tt.ok && err == nil:
			t.Errorf("ACTIVITY_RETENTION=%q: accepted as %s, want an error", tt.value, c.ActivityRetention)
		case tt.ok && c.ActivityRetention != tt.want:
			t.Errorf("ACTIVITY_RETENTION=%q: %s, want %s", tt.value, c.ActivityRetention, tt.want)
		}
	}
}
