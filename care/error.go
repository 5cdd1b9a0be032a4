package care

import (
	"errors"
	"fmt"
)

// Error codes. The GraphQL layer turns each into extensions.code.
const (
	ECONFLICT        = "conflict"        // the write collides with existing state
	EINTERNAL        = "internal"        // a fault of ours; details are logged, never shown
	EINVALID         = "invalid"         // the caller's input is wrong
	ENOTFOUND        = "not_found"       // no such record, or not one the caller may see
	EUNAUTHENTICATED = "unauthenticated" // no valid credentials
	EFORBIDDEN       = "forbidden"       // authenticated, but not allowed
	ELIMIT           = "limit_exceeded"  // a request limit (page size, batch size, depth) was passed
	EUNAVAILABLE     = "unavailable"     // refused for now (e.g. the audit cannot keep up); safe to retry
)

// Error is a domain error: a code for machines and a message safe for the
// caller. Internal faults should be wrapped with fmt.Errorf instead; anything
// that is not an *Error is reported as EINTERNAL with a generic message.
type Error struct {
	Code    string
	Message string
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("rapport error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of the first *Error in err's
// chain, or a generic message for internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
