package licensemetrics

import "sigs.k8s.io/controller-runtime/pkg/client"

// NewWithChunkSize is New writing the text format n series at a time, so a
// test's few series still span several chunks.
func NewWithChunkSize(reader client.Reader, n int) *Collector {
	return &Collector{reader: reader, chunk: n}
}
