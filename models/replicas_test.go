package models

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestParseLSN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want LSN
		ok   bool
	}{
		{"0/0", 0, true},
		{"0/16B3748", 0x16B3748, true},
		{"16/B374D848", 0x16_B374D848, true},
		{"ffffffff/FFFFFFFF", LSN(^uint64(0)), true},
		{" 1/2 ", 1<<32 | 2, true},
		{"", 0, false},
		{"16B3748", 0, false},
		{"/1", 0, false},
		{"1/", 0, false},
		{"1/2/3", 0, false},
		{"g/1", 0, false},
		{"-1/1", 0, false},
		{"100000000/0", 0, false},
	} {
		got, err := ParseLSN(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseLSN(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok {
			if back, err := ParseLSN(got.String()); err != nil || back != got {
				t.Errorf("ParseLSN(%q.String() = %q) = %v, %v", tc.in, got.String(), back, err)
			}
		}
	}
	if a, b := LSN(0x1_00000000), LSN(0xFFFFFFFF); a <= b {
		t.Errorf("%v <= %v: the high half must weigh more", a, b)
	}
}

func TestRecoveryConflict(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001", Message: "canceling statement due to conflict with recovery"}, true},
		{fmt.Errorf("shipments: %w", &pgconn.PgError{Code: "40001", Message: "canceling statement due to conflict with recovery"}), true},
		{&pgconn.PgError{Code: "57P04", Message: "terminating connection due to conflict with recovery"}, true},
		{&pgconn.PgError{Code: "40001", Message: "could not serialize access due to concurrent update"}, false},
		{&pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"}, false},
		{ErrNotFound, false},
	} {
		if got := RecoveryConflict(tc.err); got != tc.want {
			t.Errorf("RecoveryConflict(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
