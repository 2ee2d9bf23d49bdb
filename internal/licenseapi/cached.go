package licenseapi

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/cacheread"
)

// cachedReads are the objects a request reads from the cache (the Product,
// Licensee, templates and JWKS of a request), without copies: the license
// API only ever reads what it reads here.
type cachedReads struct {
	products   *cacheread.Objects[licensingv1alpha1.Product, *licensingv1alpha1.Product]
	licensees  *cacheread.Objects[licensingv1alpha1.Licensee, *licensingv1alpha1.Licensee]
	templates  *cacheread.Objects[licensingv1alpha1.LicenseTemplate, *licensingv1alpha1.LicenseTemplate]
	configMaps *cacheread.Objects[corev1.ConfigMap, *corev1.ConfigMap]
}

func newCachedReads(r client.Reader) *cachedReads {
	group := licensingv1alpha1.GroupVersion.Group
	return &cachedReads{
		products:   cacheread.New[licensingv1alpha1.Product](r, schema.GroupResource{Group: group, Resource: "products"}),
		licensees:  cacheread.New[licensingv1alpha1.Licensee](r, schema.GroupResource{Group: group, Resource: "licensees"}),
		templates:  cacheread.New[licensingv1alpha1.LicenseTemplate](r, schema.GroupResource{Group: group, Resource: "licensetemplates"}),
		configMaps: cacheread.New[corev1.ConfigMap](r, schema.GroupResource{Resource: "configmaps"}),
	}
}

// wire reads every kind through its informer's store in informers.
func (c *cachedReads) wire(ctx context.Context, informers cache.Informers) error {
	for _, w := range []func(context.Context, cache.Informers) error{
		c.products.Wire, c.licensees.Wire, c.templates.Wire, c.configMaps.Wire,
	} {
		if err := w(ctx, informers); err != nil {
			return err
		}
	}
	return nil
}
