package notify

import (
	"context"
	"time"
)

// WithSleep replaces the wait before a retry (tests record it instead of
// waiting).
func WithSleep(f func(context.Context, time.Duration) error) Option {
	return func(o *config) { o.sleep = f }
}
