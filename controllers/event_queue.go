package controllers

import (
	"context"
	"fmt"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/reference"

	"github.com/kubelicense/kubelicense/internal/licensemetrics"
)

// maxQueuedEvents bounds the Events waiting to be sent, as client-go's core/v1
// recorder does (its watch.Broadcaster queue): a bulk import of 10,000
// Licensees makes 10,000 Issued Events, which trail at the events client's
// rate; beyond this many waiting, the newest are dropped and counted.
const maxQueuedEvents = 1000

// eventQueue sends Events to an events.k8s.io broadcaster at a steady rate
// from a bounded queue. The broadcaster alone starts a goroutine per Event and
// keeps a copy of each while it waits for its client's rate limit: 10,000
// Events of an import were 10,000 goroutines and about 30 MB held for
// minutes. Queued, an Event is a reference and four strings, the broadcaster
// sees no more than the rate, and what is dropped is counted.
type eventQueue struct {
	scheme  *runtime.Scheme
	limiter *rate.Limiter
	queue   chan queuedEvent
	dropped func() // counts an Event there was no room for
}

type queuedEvent struct {
	to                              events.EventRecorder
	regarding, related              runtime.Object
	eventtype, reason, action, note string
}

func newEventQueue(scheme *runtime.Scheme, qps float32, burst int) *eventQueue {
	return &eventQueue{
		scheme:  scheme,
		limiter: rate.NewLimiter(rate.Limit(qps), burst),
		queue:   make(chan queuedEvent, maxQueuedEvents),
		dropped: licensemetrics.RecordEventDropped,
	}
}

// run hands the queued Events to their recorders until ctx ends.
func (q *eventQueue) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-q.queue:
			if q.limiter.Wait(ctx) != nil {
				return
			}
			e.to.Eventf(e.regarding, e.related, e.eventtype, e.reason, e.action, "%s", e.note)
		}
	}
}

// recorder is to's recorder through the queue.
func (q *eventQueue) recorder(to events.EventRecorder) events.EventRecorder {
	return &queuedRecorder{q: q, to: to}
}

type queuedRecorder struct {
	q  *eventQueue
	to events.EventRecorder
}

// Eventf queues the Event with references in place of the objects (which
// would keep whole Licensees alive while they wait); it never blocks.
func (r *queuedRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...interface{}) {
	e := queuedEvent{to: r.to, eventtype: eventtype, reason: reason, action: action, note: fmt.Sprintf(note, args...)}
	var err error
	if e.regarding, err = r.ref(regarding); err != nil {
		return // the broadcaster would not record it either
	}
	if e.related, err = r.ref(related); err != nil {
		e.related = nil
	}
	select {
	case r.q.queue <- e:
	default:
		r.q.dropped()
	}
}

func (r *queuedRecorder) ref(obj runtime.Object) (runtime.Object, error) {
	if obj == nil {
		return nil, nil
	}
	return reference.GetReference(r.q.scheme, obj)
}
