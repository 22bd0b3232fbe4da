//go:build invariants

package datatree

// invariants enables the consistency checks of invariants.go (make test builds
// with -tags invariants).
const invariants = true
