package licenseapi

// ReadsLeasesByIndex says whether s reads a license's seat leases through the
// SeatLease informer's index (wired by Setup with the manager's cache).
func ReadsLeasesByIndex(s *Server) bool { return s.store.leaseIndex != nil }
