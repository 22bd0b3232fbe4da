package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Histogram records non-negative int64 values (latencies in nanoseconds) in
// log-linear buckets, as HdrHistogram does: values below 2^histSubBits are exact;
// above that every power-of-two range is cut into 2^(histSubBits-1) equal buckets,
// so a bucket's width is at most 1/128 of its lower bound and any quantile is within
// 0.8% of the true value (and never outside [Min, Max]).
//
//	index:  0 ... 255 | 256 ... 383 | 384 ... 511 | ...
//	value:  0 ... 255 | 256 ... 510 | 512 ... 1020| ...   (step 1, 2, 4, ...)
//
// The zero value is an empty histogram ready to use. It is not safe for concurrent
// use; the load generator keeps one per worker and merges them at the end.
type Histogram struct {
	counts []uint64 // counts[i] = values in bucket i; grown on demand
	n      uint64
	min    int64
	max    int64
	sum    float64 // float: a sum of ns over millions of ops overflows nothing
}

const (
	histSubBits = 8
	histSub     = 1 << histSubBits // exact values below this
	histHalf    = histSub / 2      // buckets per power of two above it
)

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	if v < histSub {
		return int(v)
	}
	msb := bits.Len64(uint64(v)) - 1     // >= histSubBits
	shift := msb - histSubBits + 1       // >= 1
	sub := int(uint64(v) >> uint(shift)) // in [histHalf, histSub)
	return histSub + (shift-1)*histHalf + (sub - histHalf)
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < histSub {
		return int64(i), int64(i)
	}
	shift := (i-histSub)/histHalf + 1
	sub := int64((i-histSub)%histHalf + histHalf)
	lo = sub << uint(shift)
	hi = lo + (int64(1) << uint(shift)) - 1
	if hi < lo { // the last bucket below MaxInt64
		hi = math.MaxInt64
	}
	return lo, hi
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	i := bucketOf(v)
	if i >= len(h.counts) {
		h.grow(i)
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if h.n == 0 || v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

func (h *Histogram) grow(i int) {
	n := max(2*len(h.counts), i+1, histSub+4*histHalf)
	c := make([]uint64, n)
	copy(c, h.counts)
	h.counts = c
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.grow(len(o.counts) - 1)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if h.n == 0 || o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are exact; both are 0 for an empty histogram.
func (h *Histogram) Min() int64 { return h.min }
func (h *Histogram) Max() int64 { return h.max }

// Mean is exact (up to float rounding); 0 for an empty histogram.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q in [0, 1]: the midpoint of the bucket
// holding the ceil(q*n)-th smallest value, clamped to [Min, Max]. Quantile(0) is Min
// and Quantile(1) is Max; an empty histogram gives 0.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// CDFPoint is one step of a cumulative distribution: Fraction of the values are <= Value.
type CDFPoint struct {
	Value    int64
	Fraction float64
}

// CDF returns one point per non-empty bucket, at the bucket's upper end (clamped to
// Max), in increasing order; the last point has Fraction 1.
func (h *Histogram) CDF() []CDFPoint {
	if h.n == 0 {
		return nil
	}
	var out []CDFPoint
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		_, hi := bucketRange(i)
		out = append(out, CDFPoint{Value: min(max(hi, h.min), h.max), Fraction: float64(seen) / float64(h.n)})
	}
	return out
}

// histJSON is the stored form: sparse [index, count] pairs.
type histJSON struct {
	SubBits int         `json:"sub_bits"`
	Count   uint64      `json:"count"`
	Min     int64       `json:"min"`
	Max     int64       `json:"max"`
	Sum     float64     `json:"sum"`
	Buckets [][2]uint64 `json:"buckets"`
}

// MarshalJSON stores the buckets sparsely so a reader can merge runs again.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	j := histJSON{SubBits: histSubBits, Count: h.n, Min: h.min, Max: h.max, Sum: h.sum, Buckets: [][2]uint64{}}
	for i, c := range h.counts {
		if c != 0 {
			j.Buckets = append(j.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(j)
}

// errHistJSON is returned by Histogram.UnmarshalJSON for a histogram that was
// written with another bucket layout or whose counts do not add up.
var errHistJSON = errors.New("bench: bad histogram in JSON")

// UnmarshalJSON reads what MarshalJSON wrote.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var j histJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.SubBits != histSubBits {
		return fmt.Errorf("%w: sub_bits %d, want %d", errHistJSON, j.SubBits, histSubBits)
	}
	*h = Histogram{}
	var total uint64
	for _, p := range j.Buckets {
		if p[0] > 1<<16 {
			return fmt.Errorf("%w: bucket index %d", errHistJSON, p[0])
		}
		i := int(p[0])
		if i >= len(h.counts) {
			h.grow(i)
		}
		h.counts[i] += p[1]
		total += p[1]
	}
	if total != j.Count {
		return fmt.Errorf("%w: buckets hold %d values, count says %d", errHistJSON, total, j.Count)
	}
	h.n, h.min, h.max, h.sum = j.Count, j.Min, j.Max, j.Sum
	return nil
}
