package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// sentEvent is what the queue handed to the broadcaster's recorder.
type sentEvent struct {
	regarding, related              runtime.Object
	eventtype, reason, action, note string
}

type capturingRecorder chan sentEvent

func (c capturingRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	if note != "%s" || len(args) != 1 {
		panic("the queue formats notes itself")
	}
	c <- sentEvent{regarding, related, eventtype, reason, action, args[0].(string)}
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := licensingv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEventQueueSendsReferencesInOrder(t *testing.T) {
	q := newEventQueue(testScheme(t), 1000, 10)
	sent := make(capturingRecorder, 10)
	rec := q.recorder(sent)
	l := &licensingv1alpha1.Licensee{ObjectMeta: metav1.ObjectMeta{Namespace: "licensing", Name: "globex", UID: "u-1", ResourceVersion: "7"}}
	rec.Eventf(l, nil, corev1.EventTypeNormal, eventIssued, "Issue", "issued token %s", "s-1")
	rec.Eventf(l, nil, corev1.EventTypeWarning, eventExpired, "Evaluate", "license %s expired", "main")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.run(ctx)
	for i, want := range []struct{ eventtype, reason, note string }{
		{corev1.EventTypeNormal, eventIssued, "issued token s-1"},
		{corev1.EventTypeWarning, eventExpired, "license main expired"},
	} {
		select {
		case got := <-sent:
			ref, ok := got.regarding.(*corev1.ObjectReference)
			if !ok {
				t.Fatalf("event %d regards a %T, want a reference (a queued Event must not keep the object alive)", i, got.regarding)
			}
			if ref.Kind != "Licensee" || ref.Namespace != "licensing" || ref.Name != "globex" || ref.UID != "u-1" || ref.APIVersion != licensingv1alpha1.GroupVersion.String() {
				t.Errorf("event %d regards %+v", i, ref)
			}
			if got.related != nil || got.eventtype != want.eventtype || got.reason != want.reason || got.note != want.note {
				t.Errorf("event %d = %+v, want %+v", i, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d was not sent", i)
		}
	}
}

func TestEventQueueDropsBeyondItsBoundAndCounts(t *testing.T) {
	q := newEventQueue(testScheme(t), 1, 1) // not running: nothing leaves the queue
	dropped := 0
	q.dropped = func() { dropped++ }
	rec := q.recorder(make(capturingRecorder))
	l := &licensingv1alpha1.Licensee{ObjectMeta: metav1.ObjectMeta{Namespace: "licensing", Name: "globex"}}
	for range maxQueuedEvents + 5 {
		rec.Eventf(l, nil, corev1.EventTypeNormal, eventIssued, "Issue", "issued")
	}
	if got := len(q.queue); got != maxQueuedEvents {
		t.Errorf("%d Events queued, want the bound %d", got, maxQueuedEvents)
	}
	if dropped != 5 {
		t.Errorf("%d Events counted as dropped, want 5", dropped)
	}
}
