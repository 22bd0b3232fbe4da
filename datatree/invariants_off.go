//go:build !invariants

package datatree

const invariants = false
