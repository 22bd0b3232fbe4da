package datatree

import "unsafe"

// pageSize is the smallest page of the platforms zkd runs on.
const pageSize = 4 << 10

// prefaulter allocates values of T ahead of their use, on a goroutine of its
// own, and writes to each of their pages so that the kernel has backed them
// before the user's goroutine touches them. The first write to a page of fresh
// memory is a fault that, on a virtual machine, costs about 3 us per 4 KiB: a
// million-znode restart spent 0.7 s of its 1.5 s of tree building in them on
// the decoding goroutines. Taken here, they overlap with the decoding instead.
type prefaulter[T any] struct {
	ahead  chan *T
	stop   chan struct{}
	exited chan struct{}
}

// PrefaultFrom is the number of restored znodes past which prefaulting pays
// for its goroutine and the chunks it queues: Restore starts prefaulting the
// node store there, and a decoder should call BlobArena.Prefault only for an
// image at least this large.
const PrefaultFrom = 4 * chunkSize

// prefault starts a prefaulter that keeps up to n values ready.
func prefault[T any](n int) *prefaulter[T] {
	p := &prefaulter[T]{ahead: make(chan *T, n), stop: make(chan struct{}), exited: make(chan struct{})}
	go p.run()
	return p
}

func (p *prefaulter[T]) run() {
	defer close(p.exited)
	var advised uintptr
	for {
		v := new(T)
		advised = adviseHugePages(unsafe.Pointer(v), unsafe.Sizeof(*v), advised)
		// NB: a zero written over the zero the allocation holds changes
		// nothing the collector or the owner can see, pointers included.
		b := unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
		for i := 0; i < len(b); i += pageSize {
			b[i] = 0
		}
		select {
		case p.ahead <- v:
		case <-p.stop:
			return
		}
	}
}

// get returns a prefaulted value, or a new one when none is ready: waiting for
// the prefaulter would only move the fault's cost, not save it. A nil
// prefaulter always allocates.
func (p *prefaulter[T]) get() *T {
	if p != nil {
		select {
		case v := <-p.ahead:
			return v
		default:
		}
	}
	return new(T)
}

// close stops the goroutine and waits for it; the values still queued become
// garbage.
func (p *prefaulter[T]) close() {
	close(p.stop)
	<-p.exited
}
