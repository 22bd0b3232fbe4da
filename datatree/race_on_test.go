//go:build race

package datatree

// raceEnabled: the race detector maps and touches shadow memory for the heap.
const raceEnabled = true
