package datatree

import (
	"strings"
	"testing"

	"zkd/jute"
)

// testScheme stands for an x509-like provider: ids must start with "CN=", and a
// connection id matches equal ids and, being the super user, every id.
type testScheme struct{ super string }

func (s testScheme) Valid(id string) bool { return strings.HasPrefix(id, "CN=") }
func (s testScheme) Matches(have, want string) bool {
	return have == want || (s.super != "" && have == s.super)
}

// TestRegisteredSchemes: ACL entries of a provider's scheme are accepted only when
// it is registered and finds the id valid, and its match rule decides access.
func TestRegisteredSchemes(t *testing.T) {
	x509 := func(id string) []jute.ACL { return acl(jute.PermAll, "x509", id) }
	alice := Identity{{Scheme: "ip", ID: "127.0.0.1"}, {Scheme: "x509", ID: "CN=alice"}}
	admin := Identity{{Scheme: "ip", ID: "127.0.0.1"}, {Scheme: "x509", ID: "CN=admin"}}
	mallory := Identity{{Scheme: "ip", ID: "127.0.0.1"}, {Scheme: "x509", ID: "CN=mallory"}}

	t.Run("not registered", func(t *testing.T) {
		h := newHarness(t, Config{})
		if _, _, code := h.createFull(jute.OpCreate, "/a", nil, x509("CN=alice"), 0, 0); code != jute.CodeInvalidACL {
			t.Fatalf("x509 ACL without the provider: %v, want INVALIDACL", code)
		}
	})

	h := newHarness(t, Config{Schemes: map[string]Scheme{"x509": testScheme{super: "CN=admin"}}})
	if _, _, code := h.createFull(jute.OpCreate, "/bad", nil, x509("alice"), 0, 0); code != jute.CodeInvalidACL {
		t.Fatalf("invalid x509 id: %v, want INVALIDACL", code)
	}
	h.mustCreateACL("/a", x509("CN=alice"))
	for _, tc := range []struct {
		name string
		id   Identity
		want jute.Code
	}{
		{"owner", alice, jute.CodeOK},
		{"provider's super user", admin, jute.CodeOK},
		{"someone else", mallory, jute.CodeNoAuth},
		{"no certificate", anonID, jute.CodeNoAuth},
	} {
		if _, _, code := h.tree.GetData("/a", nil, tc.id); code != tc.want {
			t.Errorf("%s: getData %v, want %v", tc.name, code, tc.want)
		}
	}
	// "auth" expands to the caller's x509 id.
	h.id = alice
	h.mustCreateACL("/mine", jute.CreatorAllACL)
	if got, _, _ := h.tree.GetACL("/mine", alice); len(got) != 1 || got[0].ID != (jute.Id{Scheme: "x509", ID: "CN=alice"}) {
		t.Fatalf("auth ACL %v", got)
	}
}
