package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

// maxInFlightPerWebhook bounds the attempts to one webhook at a time, so a
// receiver that hangs holds a few goroutines, not one per pending event.
const maxInFlightPerWebhook = 4

// LicenseEventReconciler delivers each LicenseEvent to the webhooks of its
// namespace that want it, and deletes it once done and past its retention.
//
// Reconcile never waits for a receiver: it starts each due attempt in a
// goroutine (bounded per webhook) and returns. The attempt records its outcome
// in the event's status, which wakes the event again for the next attempt or
// for deletion. All delivery state is in the API server, so a new manager
// carries on where the last one stopped; an attempt cut short by a stop is
// made again (at least once).
type LicenseEventReconciler struct {
	client.Client
	APIReader client.Reader
	Clock     clock.PassiveClock
	Sender    *webhook.Sender
	AllowHTTP bool
	// RetryBase is the first wait after a failure (doubling); Retention how
	// long a delivered event is kept. Zero: the webhook package's defaults.
	RetryBase, Retention time.Duration

	mu       sync.Mutex
	inFlight map[deliveryKey]bool
	recorded map[deliveryKey]int32 // attempts this process recorded, which the cache may not show yet
	busy     map[types.NamespacedName]int
	waiting  map[types.NamespacedName]map[types.NamespacedName]bool // events waiting for a slot of a webhook
	wake     chan event.TypedGenericEvent[client.Object]
}

type deliveryKey struct {
	event   types.UID
	webhook string
}

// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licenseevents,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licenseevents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// Reconcile starts the attempts that are due and schedules the next one.
func (r *LicenseEventReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	e := &licensingv1alpha1.LicenseEvent{}
	if err := r.Get(ctx, req.NamespacedName, e); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	webhooks := &licensingv1alpha1.LicenseWebhookList{}
	if err := r.List(ctx, webhooks, client.InNamespace(e.Namespace)); err != nil {
		return reconcile.Result{}, fmt.Errorf("list LicenseWebhooks in %s: %w", e.Namespace, err)
	}
	var next *time.Time
	soonest := func(t time.Time) {
		if next == nil || t.Before(*next) {
			next = &t
		}
	}
	done := true
	var finishedAt time.Time // the last delivery or give-up
	for i := range webhooks.Items {
		w := &webhooks.Items[i]
		if !webhook.Wants(w, e) {
			continue
		}
		d := e.Delivery(w.Name)
		if d != nil && d.Done() {
			for _, t := range []*metav1.Time{d.DeliveredAt, d.GaveUpAt} {
				if t != nil && t.After(finishedAt) {
					finishedAt = t.Time
				}
			}
			continue
		}
		done = false
		if d != nil && d.NextAttemptAt != nil && d.NextAttemptAt.After(now) {
			soonest(d.NextAttemptAt.Time)
			continue
		}
		if err := r.startAttempt(ctx, e, w, d); err != nil {
			return reconcile.Result{}, err
		}
	}
	// Kept for its retention once done; deleted at MaxAge in any case (a
	// webhook that never became usable). Both count on the controllers' clock,
	// which wrote spec.time.
	deleteAt := e.Spec.Time.Add(webhook.MaxAge)
	if done {
		deleteAt = latest(finishedAt, e.Spec.Time.Time).Add(r.retention())
	}
	if !now.Before(deleteAt) {
		return reconcile.Result{}, r.deleteEvent(ctx, e)
	}
	soonest(deleteAt)
	return requeueAt(now, next), nil
}

// startAttempt starts one attempt to deliver e to w unless one is in flight,
// this process already recorded a later state than the cache shows, or w has
// all its slots busy (then e is woken when one frees).
func (r *LicenseEventReconciler) startAttempt(ctx context.Context, e *licensingv1alpha1.LicenseEvent, w *licensingv1alpha1.LicenseWebhook, d *licensingv1alpha1.WebhookDelivery) error {
	key := deliveryKey{event: e.UID, webhook: w.Name}
	seen := int32(0)
	if d != nil {
		seen = d.Attempts
	}
	wk := client.ObjectKeyFromObject(w)
	r.mu.Lock()
	if r.inFlight[key] || r.recorded[key] > seen {
		r.mu.Unlock()
		return nil // the write of the outcome wakes e again
	}
	if r.busy[wk] >= maxInFlightPerWebhook {
		if r.waiting[wk] == nil {
			r.waiting[wk] = map[types.NamespacedName]bool{}
		}
		r.waiting[wk][client.ObjectKeyFromObject(e)] = true
		r.mu.Unlock()
		return nil
	}
	r.inFlight[key] = true
	r.busy[wk]++
	r.mu.Unlock()

	target, p, err := resolveWebhook(ctx, r.APIReader, w, r.AllowHTTP)
	if err != nil || p != nil {
		// Not usable: the webhook's Ready condition says why, and fixing it wakes e.
		r.release(key, wk, 0)
		return err
	}
	go r.attempt(ctx, key, e.DeepCopy(), w.DeepCopy(), target)
	return nil
}

// attempt posts e to w and records the outcome.
func (r *LicenseEventReconciler) attempt(ctx context.Context, key deliveryKey, e *licensingv1alpha1.LicenseEvent, w *licensingv1alpha1.LicenseWebhook, target *webhookTarget) {
	log := ctrl.LoggerFrom(ctx).WithValues("licenseEvent", e.Name, "webhook", w.Name)
	at := r.Clock.Now()
	status, err := r.post(ctx, e, target, webhook.Timeout(w))
	if ctx.Err() != nil {
		r.release(key, client.ObjectKeyFromObject(w), 0)
		return // stopping: the next manager attempts again
	}
	var outcome licensingv1alpha1.WebhookDelivery
	rerr := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live := &licensingv1alpha1.LicenseEvent{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(e), live); err != nil {
			return err
		}
		d := licensingv1alpha1.WebhookDelivery{Webhook: w.Name}
		if old := live.Delivery(w.Name); old != nil {
			d = *old
		}
		outcome = webhook.Outcome(d, e.Name, webhook.MaxAttempts(w), r.RetryBase, at, status, err)
		if old := live.Delivery(w.Name); old != nil {
			*old = outcome
		} else {
			live.Status.Deliveries = append(live.Status.Deliveries, outcome)
		}
		return r.Status().Update(ctx, live)
	})
	if rerr != nil {
		if apierrors.IsNotFound(rerr) { // deleted meanwhile (its owner went)
			r.release(key, client.ObjectKeyFromObject(w), 0)
			return
		}
		log.Error(rerr, "record webhook delivery; the attempt will be made again")
		// Not at once: the API server is failing.
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			r.release(key, client.ObjectKeyFromObject(w), 0)
			return
		}
		r.finishAttempt(key, client.ObjectKeyFromObject(w), e, 0)
		return
	}
	result := webhook.ResultFailure
	switch {
	case outcome.DeliveredAt != nil:
		result = webhook.ResultSuccess
	case outcome.GaveUpAt != nil:
		result = webhook.ResultGivenUp
	}
	webhook.DeliveriesTotal.WithLabelValues(w.Namespace, w.Name, result).Inc()
	if err := r.recordOnWebhook(ctx, w, e, &outcome); err != nil {
		log.Error(err, "record delivery on LicenseWebhook")
	}
	r.finishAttempt(key, client.ObjectKeyFromObject(w), e, outcome.Attempts)
}

// post sends one signed attempt and returns the HTTP status or why there is none.
// The signed timestamp is the wall clock's, not the injected one: receivers
// check it against theirs to refuse replays.
func (r *LicenseEventReconciler) post(ctx context.Context, e *licensingv1alpha1.LicenseEvent, t *webhookTarget, timeout time.Duration) (int, error) {
	body, err := webhook.Body(e)
	if err != nil {
		return 0, err
	}
	headers, err := webhook.SignatureHeaders(t.key, e.Spec.ID, time.Now(), body)
	if err != nil {
		return 0, err
	}
	return r.Sender.Send(ctx, t.url, t.caBundle, headers, body, timeout)
}

// recordOnWebhook writes the last success or failure into w's status; a merge
// patch of those fields only, so it races with nobody's other fields.
func (r *LicenseEventReconciler) recordOnWebhook(ctx context.Context, w *licensingv1alpha1.LicenseWebhook, e *licensingv1alpha1.LicenseEvent, d *licensingv1alpha1.WebhookDelivery) error {
	original := w.DeepCopy()
	if d.DeliveredAt != nil {
		w.Status.LastSuccessAt = d.DeliveredAt
	} else {
		w.Status.LastFailure = &licensingv1alpha1.WebhookFailure{At: *d.LastAttemptAt, Event: e.Spec.ID, HTTPStatus: d.LastStatus, Message: d.LastError}
	}
	if err := r.Status().Patch(ctx, w, client.MergeFrom(original)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("update status of LicenseWebhook %s/%s: %w", w.Namespace, w.Name, err)
	}
	return nil
}

// finishAttempt frees the attempt's slot and wakes e (whose cache may already
// hold the outcome, its watch event having found the attempt in flight) and
// an event waiting for the slot.
func (r *LicenseEventReconciler) finishAttempt(key deliveryKey, wk types.NamespacedName, e *licensingv1alpha1.LicenseEvent, attempts int32) {
	wakeUp := []types.NamespacedName{client.ObjectKeyFromObject(e)}
	if waiting, ok := r.release(key, wk, attempts); ok {
		wakeUp = append(wakeUp, waiting)
	}
	for _, k := range wakeUp {
		obj := &licensingv1alpha1.LicenseEvent{}
		obj.Namespace, obj.Name = k.Namespace, k.Name
		r.wake <- event.TypedGenericEvent[client.Object]{Object: obj}
	}
}

// release frees the attempt's slot and returns an event waiting for one.
func (r *LicenseEventReconciler) release(key deliveryKey, wk types.NamespacedName, attempts int32) (types.NamespacedName, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.inFlight, key)
	if attempts > 0 {
		r.recorded[key] = attempts
	}
	r.busy[wk]--
	if r.busy[wk] <= 0 {
		delete(r.busy, wk)
	}
	for waiting := range r.waiting[wk] {
		delete(r.waiting[wk], waiting)
		return waiting, true
	}
	return types.NamespacedName{}, false
}

func (r *LicenseEventReconciler) deleteEvent(ctx context.Context, e *licensingv1alpha1.LicenseEvent) error {
	uid := e.UID
	if err := r.Delete(ctx, e, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete delivered LicenseEvent %s/%s: %w", e.Namespace, e.Name, err)
	}
	r.mu.Lock()
	for k := range r.recorded {
		if k.event == uid {
			delete(r.recorded, k)
		}
	}
	r.mu.Unlock()
	return nil
}

func (r *LicenseEventReconciler) retention() time.Duration {
	if r.Retention > 0 {
		return r.Retention
	}
	return webhook.DefaultRetention
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// SetupWithManager watches events (also their status: an attempt's outcome
// schedules the next), webhooks that change or become Ready (their waiting
// events are tried at once), and the wake-ups of freed slots.
func (r *LicenseEventReconciler) SetupWithManager(mgr ctrl.Manager, concurrency int) error {
	r.inFlight = map[deliveryKey]bool{}
	r.recorded = map[deliveryKey]int32{}
	r.busy = map[types.NamespacedName]int{}
	r.waiting = map[types.NamespacedName]map[types.NamespacedName]bool{}
	// Buffered: finishAttempt runs outside the workers and must not wait for them.
	r.wake = make(chan event.TypedGenericEvent[client.Object], 1024)
	if r.Sender == nil {
		r.Sender = &webhook.Sender{}
	}
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		For(&licensingv1alpha1.LicenseEvent{}).
		Watches(&licensingv1alpha1.LicenseWebhook{}, handler.EnqueueRequestsFromMapFunc(eventsInNamespace(c)), builder.WithPredicates(webhookUsableChanged)).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrency}).
		Named("licenseevent").
		Complete(r)
}

// webhookUsableChanged: a new generation, or Ready turning.
var webhookUsableChanged = predicate.Funcs{
	CreateFunc: func(event.CreateEvent) bool { return false }, // a new webhook does not receive the past
	DeleteFunc: func(event.DeleteEvent) bool { return true },  // its events may be done now
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*licensingv1alpha1.LicenseWebhook)
		n, ok2 := e.ObjectNew.(*licensingv1alpha1.LicenseWebhook)
		return !ok1 || !ok2 || o.Generation != n.Generation || webhookReady(o) != webhookReady(n)
	},
}

func eventsInNamespace(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		list := &licensingv1alpha1.LicenseEventList{}
		if err := c.List(ctx, list, client.InNamespace(o.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "list LicenseEvents", "namespace", o.GetNamespace())
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return out
	}
}
