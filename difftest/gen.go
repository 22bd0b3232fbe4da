package difftest

import (
	"math/rand/v2"

	"zkd/jute"
)

// GenConfig shapes generated sequences.
type GenConfig struct {
	Sessions int  // session slots; ops name a slot in [0, Sessions)
	TTL      bool // generate TTL creates (both servers must have extendedTypesEnabled)
}

// gen draws ops from a seeded PCG, so a seed always yields the same sequence.
type gen struct {
	r   *rand.Rand
	cfg GenConfig
}

// Generate returns n ops drawn from seed. The path space is small on purpose (three
// names, a few sequential names, depth at most three below the root) so that ops
// collide: creates meet existing nodes, deletes meet children, versions sometimes
// match.
func Generate(seed uint64, n int, cfg GenConfig) []Op {
	if cfg.Sessions <= 0 {
		cfg.Sessions = 1
	}
	g := &gen{r: rand.New(rand.NewPCG(seed, 0x5eed_d1ff)), cfg: cfg}
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = g.op()
	}
	return ops
}

// pick returns an index chosen with the given relative weights.
func (g *gen) pick(weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := g.r.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

func (g *gen) name() string {
	switch g.pick(50, 35, 5, 10) {
	case 0:
		return "a"
	case 1:
		return "b"
	case 2:
		return "c"
	}
	// Names the sequential creates of "<parent>/q" produce.
	return "q000000000" + string(rune('0'+g.r.IntN(3)))
}

// path returns a root-relative path of depth 0 to 3, now and then a malformed one.
func (g *gen) path() string {
	if g.r.IntN(100) < 3 {
		return []string{"/a/", "//a", "/a/.", "/a/../b", "/a\x00b"}[g.r.IntN(5)]
	}
	depth := g.pick(8, 45, 35, 12)
	p := ""
	for range depth {
		p += "/" + g.name()
	}
	return p
}

// parent returns a root-relative path of depth 0 to 2.
func (g *gen) parent() string {
	p := ""
	for range g.pick(30, 45, 25) {
		p += "/" + g.name()
	}
	return p
}

func (g *gen) data() []byte {
	switch g.pick(10, 15, 40, 35) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		return []byte("x")
	}
	return []byte("hello")
}

// version is -1 (any) often, small versions that sometimes match, and one that never does.
func (g *gen) version() int32 {
	return []int32{-1, 0, 1, 2, 99}[g.pick(35, 30, 18, 9, 8)]
}

// acl favours the open ACL so that the tree stays mostly usable.
func (g *gen) acl() int {
	if g.r.IntN(100) < 55 {
		return 0
	}
	if g.r.IntN(100) < 12 {
		return len(aclTable) - 4 + g.r.IntN(4) // invalid
	}
	return 1 + g.r.IntN(len(aclTable)-5)
}

func (g *gen) session() int { return g.r.IntN(g.cfg.Sessions) }

// create returns a create of some kind, with the opcode a Java client would use for
// its mode: 1 or 15 for the four classic modes, 19 for containers, 21 for TTL; and
// if odd is set, now and then one no Java client sends (oddCreate).
func (g *gen) create(odd bool) Op {
	op := Op{Data: g.data(), ACL: g.acl()}
	kinds := []int{40, 18, 14, 14, 10, 0}
	if g.cfg.TTL {
		kinds[5] = 8
	}
	switch k := g.pick(kinds...); k {
	case 0, 1, 2, 3:
		op.Mode = int32(k)
		op.Code = jute.OpCreate
		if g.r.IntN(2) == 0 {
			op.Code = jute.OpCreate2
		}
	case 4:
		op.Code, op.Mode = jute.OpCreateContainer, int32(jute.ModeContainer)
	default:
		op.Code = jute.OpCreateTTL
		op.Mode = int32(jute.ModePersistentWithTTL)
		if g.r.IntN(3) == 0 {
			op.Mode = int32(jute.ModePersistentSequentialWithTTL)
		}
		// Long enough never to expire during a test; 0 is out of range (BADARGUMENTS).
		op.TTL = 1_000_000
		if g.r.IntN(10) == 0 {
			op.TTL = 0
		}
	}
	if odd && g.r.IntN(100) < 8 {
		g.oddCreate(&op)
	}
	if jute.CreateMode(op.Mode).Sequential() {
		op.Path = g.parent() + "/q"
		if g.r.IntN(20) == 0 {
			op.Path = g.parent() + "/" // names the child by its suffix alone
		}
	} else {
		op.Path = g.path()
		if op.Path == "" {
			op.Path = "/" + g.name()
		}
	}
	return op
}

// oddCreate turns op into a create whose flags do not match its opcode, or whose
// flags or TTL are out of range: what no Java client sends, but any client can.
// ZooKeeper checks the flags' mode the same way under every create opcode and
// lets the opcode alone pick the kind of node (createContainer always makes a
// container, flags 4 under create a persistent node), so each of these has one
// right answer. Inside a multi, ZooKeeper 3.8.0 rebuilds each create sub-op
// from its flags (Op.create), so that the mode, not the opcode, picks the kind,
// an invalid mode fails the sub-op with BADARGUMENTS and a TTL mode under create
// fails the whole multi with MARSHALLINGERROR; multis carry them too.
func (g *gen) oddCreate(op *Op) {
	classic := []jute.OpCode{jute.OpCreate, jute.OpCreate2}[g.r.IntN(2)]
	op.TTL = 0
	switch g.pick(20, 20, 20, 15, 25) {
	case 0: // container mode under create or create2
		op.Code, op.Mode = classic, int32(jute.ModeContainer)
	case 1: // createContainer with another mode
		op.Code, op.Mode = jute.OpCreateContainer, []int32{0, 1, 2, 3}[g.r.IntN(4)]
	case 2: // flags no mode has
		op.Code, op.Mode = []jute.OpCode{classic, jute.OpCreateContainer}[g.r.IntN(2)], []int32{-1, 7, 100}[g.r.IntN(3)]
	case 3: // createTTL with a mode that has no TTL
		if !g.cfg.TTL {
			return
		}
		op.Code, op.Mode, op.TTL = jute.OpCreateTTL, []int32{0, 1, 2, 3, 4}[g.r.IntN(5)], 1_000_000
	default: // TTL modes elsewhere, and TTLs at and beyond the bounds
		if !g.cfg.TTL {
			return
		}
		op.Mode = []int32{int32(jute.ModePersistentWithTTL), int32(jute.ModePersistentSequentialWithTTL)}[g.r.IntN(2)]
		switch g.pick(25, 25, 50) {
		case 0:
			op.Code = classic // a CreateRequest has no TTL field
		case 1:
			op.Code = jute.OpCreateContainer
		default:
			// 1 ms expires at once, but nothing is reaped during a test
			// (containerCheckMs); 0xFF_FFFF_FFFF is the largest TTL there is.
			op.Code = jute.OpCreateTTL
			op.TTL = []int64{-1, 1, 0xFF_FFFF_FFFF, 0xFF_FFFF_FFFF + 1}[g.r.IntN(4)]
		}
	}
}

// writeSubOp returns an op a multi may carry.
func (g *gen) writeSubOp() Op {
	switch g.pick(40, 20, 20, 20) {
	case 0:
		return g.create(true)
	case 1:
		return Op{Code: jute.OpDelete, Path: g.path(), Version: g.version()}
	case 2:
		return Op{Code: jute.OpSetData, Path: g.path(), Data: g.data(), Version: g.version()}
	}
	// check only ever travels inside a multi: a standalone check (opcode 13) is a
	// known divergence (README compatibility table, row "standalone check": 3.8.0
	// writes a txn it cannot replay and sends no reply; zkd answers UNIMPLEMENTED
	// and closes, as 3.8.5+ does), so it is not generated.
	return Op{Code: jute.OpCheck, Path: g.path(), Version: g.version()}
}

func (g *gen) multi() Op {
	op := Op{Code: jute.OpMulti}
	if g.r.IntN(50) == 0 {
		return op // empty multi: legal, and Java never sends it
	}
	for range 1 + g.r.IntN(4) {
		op.Ops = append(op.Ops, g.writeSubOp())
	}
	if g.r.IntN(100) < 40 {
		// A check that cannot pass, at a random position: the multi fails there.
		at := g.r.IntN(len(op.Ops) + 1)
		bad := Op{Code: jute.OpCheck, Path: g.path(), Version: 99999}
		op.Ops = append(op.Ops[:at], append([]Op{bad}, op.Ops[at:]...)...)
	}
	return op
}

func (g *gen) multiRead() Op {
	op := Op{Code: jute.OpMultiRead}
	for range 1 + g.r.IntN(3) {
		code := jute.OpGetData
		if g.r.IntN(2) == 0 {
			code = jute.OpGetChildren
		}
		op.Ops = append(op.Ops, Op{Code: code, Path: g.path()})
	}
	return op
}

func (g *gen) op() Op {
	var op Op
	switch g.pick(
		26, // create
		10, // delete
		8,  // setData
		8,  // exists
		6,  // getData
		4,  // getChildren
		4,  // getChildren2
		3,  // getACL
		6,  // setACL
		8,  // multi
		2,  // multiRead
		4,  // addWatch
		2,  // removeWatches
		1,  // checkWatches
		2,  // sync
		2,  // getEphemerals
		2,  // getAllChildrenNumber
		1,  // whoAmI
		4,  // addauth
		2,  // closeSession
	) {
	case 0:
		op = g.create(true)
	case 1:
		op = Op{Code: jute.OpDelete, Path: g.path(), Version: g.version()}
	case 2:
		op = Op{Code: jute.OpSetData, Path: g.path(), Data: g.data(), Version: g.version()}
	case 3:
		op = Op{Code: jute.OpExists, Path: g.path(), Watch: g.r.IntN(2) == 0}
	case 4:
		op = Op{Code: jute.OpGetData, Path: g.path(), Watch: g.r.IntN(2) == 0}
	case 5:
		op = Op{Code: jute.OpGetChildren, Path: g.path(), Watch: g.r.IntN(2) == 0}
	case 6:
		op = Op{Code: jute.OpGetChildren2, Path: g.path(), Watch: g.r.IntN(2) == 0}
	case 7:
		op = Op{Code: jute.OpGetACL, Path: g.path()}
	case 8:
		op = Op{Code: jute.OpSetACL, Path: g.path(), ACL: g.acl(), Version: g.version()}
	case 9:
		op = g.multi()
	case 10:
		op = g.multiRead()
	case 11:
		op = Op{Code: jute.OpAddWatch, Path: g.path(), Mode: int32(g.r.IntN(2))}
	case 12:
		op = Op{Code: jute.OpRemoveWatches, Path: g.path(), Mode: 1 + int32(g.r.IntN(3))}
	case 13:
		op = Op{Code: jute.OpCheckWatches, Path: g.path(), Mode: 1 + int32(g.r.IntN(3))}
	case 14:
		op = Op{Code: jute.OpSync, Path: g.path()}
	case 15:
		op = Op{Code: jute.OpGetEphemerals, Path: g.path()}
	case 16:
		op = Op{Code: jute.OpGetAllChildrenNumber, Path: g.path()}
	case 17:
		op = Op{Code: jute.OpWhoAmI}
	case 18:
		op = Op{Code: jute.OpAuth, Auth: []int{0, 1, 2, 3}[g.pick(45, 30, 22, 3)]}
	case 19:
		op = Op{Code: jute.OpCloseSession}
	}
	op.Session = g.session()
	if g.r.IntN(100) < 4 {
		g.mangle(&op)
	}
	return op
}

// mangle damages op's request body in one of the ways Mangle names, where op
// has a body to damage.
func (g *gen) mangle(op *Op) {
	switch op.Code {
	case jute.OpWhoAmI, jute.OpCloseSession:
		return
	case jute.OpCreate, jute.OpCreate2, jute.OpCreateContainer, jute.OpCreateTTL, jute.OpSetACL:
		op.Mangle = Mangle(1 + g.r.IntN(3))
	default:
		op.Mangle = Mangle(1 + g.r.IntN(2))
	}
}
