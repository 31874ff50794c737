package app

import (
	"context"
	"errors"
)

func runDev(ctx context.Context, e env, args []string) error {
	return errors.New("not yet")
}
