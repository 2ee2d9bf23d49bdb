package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// Event is a business event before it is written as a LicenseEvent.
type Event struct {
	Type    licensingv1alpha1.EventType
	Subject string
	Time    time.Time
	Data    licensingv1alpha1.LicenseEventData

	// key tells this event from every other of its owner and type: a serial, a
	// state entered with the window it belongs to, an activation's UID, a key id.
	key        []string
	owner      metav1.OwnerReference
	source     string
	labels     map[string]string
	ownerLabel string // LabelLicensee or LabelProduct
}

// EventID is the event's id: the CloudEvents id, the webhook-id header and the
// LicenseEvent's name. It hashes the owner's UID, the type and the
// distinguishing values, so the same transition seen twice (a retried
// reconcile, a second replica) is one event, and a deleted and re-created
// Licensee of the same name starts afresh.
func (e *Event) EventID() string {
	h := sha256.New()
	for _, part := range append([]string{string(e.owner.UID), string(e.Type)}, e.key...) {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "evt-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// ForLicensee starts an event about licensee l; key distinguishes it from the
// other events of this type of l.
func ForLicensee(l *licensingv1alpha1.Licensee, t licensingv1alpha1.EventType, now time.Time, key ...string) Event {
	return Event{
		Type: t, Time: now, key: key,
		owner:      ownerRef("Licensee", l.Name, l.UID),
		source:     Source(l.Namespace, "licensees", l.Name),
		labels:     maps.Clone(l.Labels),
		ownerLabel: licensingv1alpha1.LabelLicensee,
		Data: licensingv1alpha1.LicenseEventData{
			Namespace: l.Namespace, Product: l.Spec.ProductRef.Name, Licensee: l.Name, ExternalID: l.Spec.ExternalID,
		},
	}
}

// ForProduct starts an event about product p.
func ForProduct(p *licensingv1alpha1.Product, t licensingv1alpha1.EventType, now time.Time, key ...string) Event {
	return Event{
		Type: t, Time: now, key: key,
		owner:      ownerRef("Product", p.Name, p.UID),
		source:     Source(p.Namespace, "products", p.Name),
		ownerLabel: licensingv1alpha1.LabelProduct,
		Data:       licensingv1alpha1.LicenseEventData{Namespace: p.Namespace, Product: p.Name},
	}
}

// Source is the CloudEvents source of events about an object: its API path.
func Source(namespace, resource, name string) string {
	return "/apis/" + licensingv1alpha1.GroupVersion.String() + "/namespaces/" + namespace + "/" + resource + "/" + name
}

func ownerRef(kind, name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: licensingv1alpha1.GroupVersion.String(), Kind: kind, Name: name, UID: uid, Controller: ptr.To(false)}
}

// Object is the LicenseEvent to create. Deleting the owner deletes it.
func (e *Event) Object() *licensingv1alpha1.LicenseEvent {
	id := e.EventID()
	labels := map[string]string{
		licensingv1alpha1.LabelManaged:   "true",
		licensingv1alpha1.LabelEventType: strings.TrimPrefix(string(e.Type), "io.kubelicense."),
		e.ownerLabel:                     e.owner.Name,
	}
	if e.Data.Product != "" {
		labels[licensingv1alpha1.LabelProduct] = e.Data.Product
	}
	return &licensingv1alpha1.LicenseEvent{
		ObjectMeta: metav1.ObjectMeta{
			Name: id, Namespace: e.Data.Namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{e.owner},
		},
		Spec: licensingv1alpha1.LicenseEventSpec{
			Type: e.Type, Source: e.source, Subject: e.Subject, ID: id,
			Time:           metav1.NewTime(e.Time.UTC().Truncate(time.Second)),
			LicenseeLabels: e.labels,
			Data:           e.Data,
		},
	}
}
