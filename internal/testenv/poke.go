package testenv

import (
	"context"
	"time"

	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PokeAnnotation is the annotation Poke changes.
const PokeAnnotation = "test.kubelicense.io/poke"

// Poke changes an annotation of obj that nothing reads, so that its
// controller reconciles it now; obj is read again on a conflict.
func Poke(ctx context.Context, c client.Client, obj client.Object) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		a := obj.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[PokeAnnotation] = time.Now().Format(time.RFC3339Nano)
		obj.SetAnnotations(a)
		return c.Update(ctx, obj)
	})
}
