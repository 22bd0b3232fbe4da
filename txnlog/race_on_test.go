//go:build race

package txnlog

const raceEnabled = true
