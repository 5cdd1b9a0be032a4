package graph

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/rapportcare/rapport/care"
	"github.com/rs/zerolog"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The values of extensions.code, as schema.graphql documents them.
const (
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeNotFound        = "NOT_FOUND"
	CodeConflict        = "CONFLICT"
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeInternal        = "INTERNAL"
	CodeUnavailable     = "UNAVAILABLE"
)

// internalMessage is all a caller learns of a fault of ours.
const internalMessage = "Internal error."

// ErrorCode returns the GraphQL extensions.code for err: the mapping of its
// care error code, INTERNAL for any other non-nil error, "" for nil. server/
// uses it to answer errors raised before GraphQL runs in the same vocabulary.
func ErrorCode(err error) string {
	switch care.ErrorCode(err) {
	case "":
		return ""
	case care.EINVALID, care.ELIMIT:
		return CodeBadUserInput
	case care.ENOTFOUND:
		return CodeNotFound
	case care.ECONFLICT:
		return CodeConflict
	case care.EUNAUTHENTICATED:
		return CodeUnauthenticated
	case care.EFORBIDDEN:
		return CodeForbidden
	case care.EUNAVAILABLE:
		return CodeUnavailable
	}
	return CodeInternal
}

// presentError is the server's error presenter. Domain errors keep their
// caller-safe message and get their code; errors gqlgen raises about the
// request itself (parse and validation failures, bad variables, input values
// that do not coerce, complexity) become BAD_USER_INPUT; anything else is a
// fault of ours: logged once with the request id and shown as INTERNAL
// "Internal error.".
func presentError(ctx context.Context, err error) *gqlerror.Error {
	gqlErr := graphql.DefaultErrorPresenter(ctx, err)
	var ce *care.Error
	var pe *panicError
	switch {
	case errors.As(err, &ce):
		gqlErr.Message = ce.Message
		code := ErrorCode(ce)
		if code == CodeInternal {
			logInternal(ctx, err)
			gqlErr.Message = internalMessage
		}
		setCode(gqlErr, code)
	case errors.As(err, &pe):
		// already logged, with its stack, by recoverPanic
		gqlErr.Message = internalMessage
		setCode(gqlErr, CodeInternal)
	case gqlErr.Err == nil && isRequestCode(gqlErr):
		// gqlgen's own verdict on the request (parse, validation,
		// variables, complexity, our depth limit): the message is safe.
		setCode(gqlErr, CodeBadUserInput)
	case gqlErr.Err != nil && inputCoercion(ctx):
		// A scalar or enum in the field's arguments did not coerce, e.g. a
		// DateTime that is not RFC 3339. The message is about the input.
		setCode(gqlErr, CodeBadUserInput)
	case gqlErr.Err == nil:
		// gqlgen's own execution messages ("must not be null") carry no data.
		setCode(gqlErr, CodeInternal)
	default:
		logInternal(ctx, err)
		gqlErr.Message = internalMessage
		setCode(gqlErr, CodeInternal)
	}
	return gqlErr
}

// isRequestCode reports whether gqlgen tagged the error as a fault of the request.
func isRequestCode(e *gqlerror.Error) bool {
	code, _ := e.Extensions["code"].(string)
	switch code {
	case errcode.ParseFailed, errcode.ValidationFailed, "COMPLEXITY_LIMIT_EXCEEDED", CodeBadUserInput:
		return true
	}
	return false
}

// inputCoercion reports whether the error being presented was raised while
// gqlgen coerced the current field's arguments: the field takes arguments but
// its context holds none, because coercing them failed. Once coerced, Args is
// never nil.
func inputCoercion(ctx context.Context) bool {
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && fc.Field.Field != nil && len(fc.Field.Arguments) > 0 && fc.Args == nil
}

func setCode(e *gqlerror.Error, code string) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = code
}

// logInternal logs a fault of ours through the request's logger. The error
// text is ours (the store never puts patient data in messages); the path names
// fields only, never argument values.
func logInternal(ctx context.Context, err error) {
	ev := zerolog.Ctx(ctx).Error().Err(err).Str("request_id", care.RequestIDFromContext(ctx))
	if p := graphql.GetPath(ctx); len(p) > 0 {
		ev = ev.Str("graphql_path", p.String())
	}
	if graphql.HasOperationContext(ctx) && graphql.GetOperationContext(ctx).Operation != nil {
		oc := graphql.GetOperationContext(ctx)
		ev = ev.Str("graphql_operation", oc.Operation.Name)
	}
	ev.Msg("graphql: internal error")
}

// panicError is what recoverPanic turns a panic into; the presenter shows it
// as INTERNAL without logging it a second time.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// recoverPanic is the server's recover func: it logs the panic with its stack
// and the request id, and returns an error the presenter shows as INTERNAL.
func recoverPanic(ctx context.Context, v any) error {
	err := &panicError{value: v}
	ev := zerolog.Ctx(ctx).Error().Err(err).Str("request_id", care.RequestIDFromContext(ctx)).
		Bytes("stack", debug.Stack())
	if p := graphql.GetPath(ctx); len(p) > 0 {
		ev = ev.Str("graphql_path", p.String())
	}
	ev.Msg("graphql: panic")
	return err
}
