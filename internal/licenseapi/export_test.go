package licenseapi

// ReadsLeasesByIndex says whether s reads a license's seat leases through the
// SeatLease informer's index (wired by Setup with the manager's cache).
func ReadsLeasesByIndex(s *Server) bool { return s.store.leaseIndex != nil }

// ReadsFromInformerStores says whether s reads the Products, Licensees,
// templates and JWKS ConfigMaps of requests from their informers' stores.
func ReadsFromInformerStores(s *Server) bool {
	c := s.cached
	return c.products.Wired() && c.licensees.Wired() && c.templates.Wired() && c.configMaps.Wired()
}

// SlotStart is the first slot of the n that a caller with key tries.
func SlotStart(key string, n int32) int32 {
	for slot := range slotOrder(key, n) {
		return slot
	}
	return -1
}
