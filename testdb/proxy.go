package testdb

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// CommitFault is what a Proxy does to the next COMMIT a client sends.
type CommitFault int

const (
	// CommitPasses: COMMIT goes through like any statement.
	CommitPasses CommitFault = iota
	// CommitLostAfter: COMMIT reaches the server, which commits; the
	// connection dies before the client reads the answer.
	CommitLostAfter
	// CommitLostBefore: the connection dies as COMMIT is sent; the server
	// never sees it and rolls back.
	CommitLostBefore
)

// Proxy is a TCP proxy in front of the test server, for tests that need a
// connection to fail at a chosen moment, which a real server does not do
// on demand: Cut drops every connection and refuses new ones, and
// FailNextCommit loses the connection at the next COMMIT.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]bool
	down   bool
	commit CommitFault
	wg     sync.WaitGroup
}

// NewProxy starts a proxy to the server of dsn on a loopback port and
// returns it with dsn rewritten to go through it. It stops when t ends.
func NewProxy(t testing.TB, dsn string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: u.Host, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	u.Host = ln.Addr().String()
	return p, u.String()
}

// Cut closes every proxied connection and refuses new ones until Restore:
// the database as a client sees it when the server is gone.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore accepts connections again after Cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// FailNextCommit makes the next COMMIT any client sends fail as f says.
func (p *Proxy) FailNextCommit(f CommitFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.commit = f
}

func (p *Proxy) close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			client.Close()
			continue
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client, server) {
			continue
		}
		// lost is closed once COMMIT went to the server under
		// CommitLostAfter: the server's answer is then dropped, and the
		// connection with it.
		lost := make(chan struct{})
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			p.fromClient(client, server, lost)
			p.untrack(client, server)
		}()
		go func() {
			defer p.wg.Done()
			toClient(client, server, lost)
			p.untrack(client, server)
		}()
	}
}

// toClient relays the server's bytes to the client until either side
// closes, or, once lost is closed, until the server answers: that answer
// is dropped.
func toClient(client, server net.Conn, lost <-chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			select {
			case <-lost:
				return
			default:
			}
			if _, err := client.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
}

// commitMessage is the simple-protocol Query message pgx sends to commit.
var commitMessage = append([]byte{'Q', 0, 0, 0, 11}, "commit\x00"...)

// fromClient relays the client's messages to the server one by one,
// watching for COMMIT. The startup messages come first and have no type
// byte: an SSL or GSS encryption request (which the server refuses with
// one byte, as the test server does) and then the startup packet.
func (p *Proxy) fromClient(client, server net.Conn, lost chan<- struct{}) {
	startup := true
	for {
		var msg []byte
		var err error
		if startup {
			msg, err = readMessage(client, 0)
			// 80877103 asks for SSL, 80877104 for GSS encryption: another
			// untyped startup message follows.
			startup = len(msg) == 8 && (bytes.Equal(msg[4:], []byte{4, 210, 22, 47}) || bytes.Equal(msg[4:], []byte{4, 210, 22, 48}))
		} else {
			msg, err = readMessage(client, 1)
		}
		if err != nil {
			return
		}
		if bytes.EqualFold(msg, commitMessage) {
			p.mu.Lock()
			fault := p.commit
			p.commit = CommitPasses
			p.mu.Unlock()
			switch fault {
			case CommitLostBefore:
				return
			case CommitLostAfter:
				// The server commits; its answer is dropped (toClient),
				// and the connection goes with it.
				close(lost)
			}
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

// readMessage reads one protocol message: typeBytes (0 or 1) bytes of
// type, then a length that counts itself, then the body.
func readMessage(r io.Reader, typeBytes int) ([]byte, error) {
	head := make([]byte, typeBytes+4)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(head[typeBytes:]))
	if n < 4 || n > 1<<30 {
		return nil, io.ErrUnexpectedEOF
	}
	msg := make([]byte, typeBytes+n)
	copy(msg, head)
	_, err := io.ReadFull(r, msg[len(head):])
	return msg, err
}
