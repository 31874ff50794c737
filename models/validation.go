package models

import (
	"fmt"
	"strings"
)

// FieldError is one invalid field, named by its JSON path
// ("parcel.weight").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of a request.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.Field + " " + f.Message
	}
	return "validation failed: " + strings.Join(parts, "; ")
}

// Add records a problem with field, unless one is recorded already: the
// first problem of a field is the one worth reading.
func (e *ValidationError) Add(field, format string, args ...any) {
	for _, f := range e.Errors {
		if f.Field == field {
			return
		}
	}
	e.Errors = append(e.Errors, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e if it holds any problem, else nil.
func (e *ValidationError) Err() error {
	if len(e.Errors) == 0 {
		return nil
	}
	return e
}
