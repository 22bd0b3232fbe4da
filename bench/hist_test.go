package bench

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile is the ceil(q*n)-th smallest of sorted values, as Quantile defines it.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

// requireClose fails unless got is within rel of want (or exactly equal).
func requireClose(t *testing.T, what string, got, want int64, rel float64) {
	t.Helper()
	if got == want {
		return
	}
	if math.Abs(float64(got-want)) > rel*math.Abs(float64(want)) {
		t.Fatalf("%s = %d, want %d within %.2f%%", what, got, want, rel*100)
	}
}

var quantiles = []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999}

func TestHistogramBucketsTileTheRange(t *testing.T) {
	prevHi := int64(-1)
	for i := 0; i < histSub+60*histHalf; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d = [%d, %d] but bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= histSub && float64(hi-lo+1) > float64(lo)/float64(histHalf)+1 {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/%d of its start", i, lo, hi, histHalf)
		}
		prevHi = hi
		if hi == math.MaxInt64 {
			return
		}
	}
	t.Fatalf("buckets stop at %d, before MaxInt64", prevHi)
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h Histogram
	for v := int64(0); v < histSub; v++ {
		h.Record(v)
	}
	var sorted []int64
	for v := int64(0); v < histSub; v++ {
		sorted = append(sorted, v)
	}
	for _, q := range quantiles {
		if got, want := h.Quantile(q), exactQuantile(sorted, q); got != want {
			t.Fatalf("Quantile(%v) = %d, want %d", q, got, want)
		}
	}
	if h.Min() != 0 || h.Max() != histSub-1 || h.Count() != histSub {
		t.Fatalf("min/max/count = %d/%d/%d", h.Min(), h.Max(), h.Count())
	}
}

func TestHistogramQuantilesOfKnownDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := []struct {
		name string
		gen  func() int64
	}{
		{"uniform 1us-1s", func() int64 { return 1000 + rng.Int64N(1e9) }},
		{"exponential mean 250us", func() int64 { return int64(rng.ExpFloat64() * 250e3) }},
		{"lognormal around 1ms", func() int64 { return int64(math.Exp(rng.NormFloat64()*1.5) * 1e6) }},
		{"bimodal 50us/20ms", func() int64 {
			if rng.IntN(100) < 95 {
				return 50e3 + rng.Int64N(5e3)
			}
			return 20e6 + rng.Int64N(1e6)
		}},
	}
	for _, d := range dists {
		t.Run(d.name, func(t *testing.T) {
			var h Histogram
			values := make([]int64, 200_000)
			var sum float64
			for i := range values {
				values[i] = d.gen()
				sum += float64(values[i])
				h.Record(values[i])
			}
			slices.Sort(values)
			for _, q := range quantiles {
				requireClose(t, "quantile", h.Quantile(q), exactQuantile(values, q), 1.0/histHalf)
			}
			if h.Quantile(0) != values[0] || h.Quantile(1) != values[len(values)-1] {
				t.Fatalf("Quantile(0), Quantile(1) = %d, %d; want exact min and max %d, %d",
					h.Quantile(0), h.Quantile(1), values[0], values[len(values)-1])
			}
			if m := sum / float64(len(values)); math.Abs(h.Mean()-m) > 1e-9*m {
				t.Fatalf("Mean = %v, want %v", h.Mean(), m)
			}
			cdf := h.CDF()
			if len(cdf) == 0 || cdf[len(cdf)-1].Fraction != 1 || cdf[len(cdf)-1].Value != values[len(values)-1] {
				t.Fatalf("CDF does not end at (max, 1): %+v", cdf[len(cdf)-1])
			}
			for i := 1; i < len(cdf); i++ {
				if cdf[i].Value < cdf[i-1].Value || cdf[i].Fraction <= cdf[i-1].Fraction {
					t.Fatalf("CDF not increasing at %d: %+v then %+v", i, cdf[i-1], cdf[i])
				}
			}
		})
	}
}

func TestHistogramMergeEqualsRecordingEverything(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var all, a, b Histogram
	for i := 0; i < 50_000; i++ {
		v := int64(rng.ExpFloat64() * 1e6)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v * 1) // same values, split unevenly
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(&Histogram{}) // empty: no effect
	m.Merge(nil)
	if m.Count() != all.Count() || m.Min() != all.Min() || m.Max() != all.Max() {
		t.Fatalf("merged count/min/max %d/%d/%d, want %d/%d/%d", m.Count(), m.Min(), m.Max(), all.Count(), all.Min(), all.Max())
	}
	for _, q := range quantiles {
		if m.Quantile(q) != all.Quantile(q) {
			t.Fatalf("merged Quantile(%v) = %d, want %d", q, m.Quantile(q), all.Quantile(q))
		}
	}
	// Merging into an empty histogram copies min and max, not zero.
	var e Histogram
	var big Histogram
	big.Record(5_000_000)
	e.Merge(&big)
	if e.Min() != 5_000_000 || e.Max() != 5_000_000 {
		t.Fatalf("merge into empty: min/max = %d/%d", e.Min(), e.Max())
	}
}

func TestHistogramEdgeValues(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.CDF() != nil || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	h.Record(-5) // clamps to 0
	h.Record(math.MaxInt64)
	if h.Min() != 0 || h.Max() != math.MaxInt64 {
		t.Fatalf("min/max = %d/%d", h.Min(), h.Max())
	}
	if q := h.Quantile(0.99); q != math.MaxInt64 && q < math.MaxInt64/2 {
		t.Fatalf("Quantile(0.99) = %d", q)
	}
}

func TestHistogramJSONRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var h Histogram
	for i := 0; i < 10_000; i++ {
		h.Record(rng.Int64N(1e8))
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Count() != h.Count() || back.Min() != h.Min() || back.Max() != h.Max() || back.Mean() != h.Mean() {
		t.Fatalf("round trip changed the summary: %+v", back)
	}
	for _, q := range quantiles {
		if back.Quantile(q) != h.Quantile(q) {
			t.Fatalf("round trip Quantile(%v) = %d, want %d", q, back.Quantile(q), h.Quantile(q))
		}
	}
	for _, bad := range []string{
		`{"sub_bits":7,"count":0,"buckets":[]}`,
		`{"sub_bits":8,"count":2,"buckets":[[1,1]]}`,
		`{"sub_bits":8,"count":1,"buckets":[[99999999,1]]}`,
	} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Fatalf("Unmarshal(%s) succeeded", bad)
		}
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	var h Histogram
	h.Record(1 << 40) // grow once
	if n := testing.AllocsPerRun(1000, func() { h.Record(123456) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i) * 997)
	}
}
