package graph

// NewServerWithBatchWait exposes newServer to the external tests: the N+1
// test widens the dataloaders' batch window so that loads reached at slightly
// different times still share a batch, making the query count deterministic.
var NewServerWithBatchWait = newServer

// SettledLists counts the lists marshalled serially after settling
// (settle.go) since the process started.
func SettledLists() int64 { return settledLists.Load() }
