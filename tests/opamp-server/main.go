// opamp-test-server: a real OpAMP server (opamp-go's server package, both transports on one
// endpoint) for oneagent's integration tests, with a small JSON control API on a second port:
//
//	GET  /agents                 every agent seen: description, health, effective config,
//	                             remote-config status, custom messages, transport, messages
//	POST /agents/{uid}/config    body: the oneagent.toml offered as remote config to agent uid
//	                             (pushed at once over WebSocket, with the next reply over HTTP)
//	POST /mode                   body: normal | garbage | oversized | close | unavailable
//
// Flags: -listen (OpAMP), -control, -tls-cert/-tls-key (serve TLS), -client-ca (require a
// client certificate signed by it). It prints "ready" once both listeners are bound.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server"
	"github.com/open-telemetry/opamp-go/server/types"
)

type customMessage struct {
	Capability string `json:"capability"`
	Type       string `json:"type"`
	Data       string `json:"data"`
}

type agent struct {
	UID                string            `json:"uid"`
	Transport          string            `json:"transport"`
	Messages           int               `json:"messages"`
	LastSequenceNum    uint64            `json:"last_sequence_num"`
	Capabilities       uint64            `json:"capabilities"`
	Identifying        map[string]string `json:"identifying"`
	NonIdentifying     map[string]string `json:"non_identifying"`
	Healthy            *bool             `json:"healthy"`
	HealthStatus       string            `json:"health_status"`
	HealthLastError    string            `json:"health_last_error"`
	HealthComponents   map[string]string `json:"health_components"`
	EffectiveConfig    string            `json:"effective_config"`
	RemoteConfigStatus string            `json:"remote_config_status"`
	RemoteConfigError  string            `json:"remote_config_error"`
	RemoteConfigHash   string            `json:"remote_config_hash"`
	CustomCapabilities []string          `json:"custom_capabilities"`
	CustomMessages     []customMessage   `json:"custom_messages"`
	Disconnected       bool              `json:"disconnected"`
	offered            *protobufs.AgentRemoteConfig
	conn               types.Connection
}

type state struct {
	mu     sync.Mutex
	agents map[string]*agent
	mode   string
}

func anyString(v *protobufs.AnyValue) string {
	if v == nil {
		return ""
	}
	switch x := v.Value.(type) {
	case *protobufs.AnyValue_StringValue:
		return x.StringValue
	case *protobufs.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *protobufs.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *protobufs.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	}
	return fmt.Sprintf("%v", v)
}

func attrs(kvs []*protobufs.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.Key] = anyString(kv.Value)
	}
	return m
}

func (s *state) onMessage(transport string, conn types.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
	s.mu.Lock()
	defer s.mu.Unlock()
	uid := hex.EncodeToString(msg.InstanceUid)
	a, known := s.agents[uid]
	if !known {
		a = &agent{UID: uid}
		s.agents[uid] = a
	}
	a.Transport = transport
	if transport == "ws" {
		a.conn = conn
	}
	a.Messages++
	resp := &protobufs.ServerToAgent{
		InstanceUid: msg.InstanceUid,
		Capabilities: uint64(protobufs.ServerCapabilities_ServerCapabilities_AcceptsStatus |
			protobufs.ServerCapabilities_ServerCapabilities_OffersRemoteConfig |
			protobufs.ServerCapabilities_ServerCapabilities_AcceptsEffectiveConfig),
	}
	// A sequence gap (or an agent never seen) means the server's view is stale.
	if (!known && msg.AgentDescription == nil) || (known && msg.SequenceNum != a.LastSequenceNum+1) {
		resp.Flags |= uint64(protobufs.ServerToAgentFlags_ServerToAgentFlags_ReportFullState)
	}
	a.LastSequenceNum = msg.SequenceNum
	if msg.Capabilities != 0 {
		a.Capabilities = msg.Capabilities
	}
	if d := msg.AgentDescription; d != nil {
		a.Identifying = attrs(d.IdentifyingAttributes)
		a.NonIdentifying = attrs(d.NonIdentifyingAttributes)
	}
	if h := msg.Health; h != nil {
		healthy := h.Healthy
		a.Healthy = &healthy
		a.HealthStatus = h.Status
		a.HealthLastError = h.LastError
		a.HealthComponents = map[string]string{}
		for name, c := range h.ComponentHealthMap {
			a.HealthComponents[name] = fmt.Sprintf("healthy=%v status=%s last_error=%s", c.Healthy, c.Status, c.LastError)
		}
	}
	if e := msg.EffectiveConfig; e != nil && e.ConfigMap != nil {
		var parts []string
		for _, f := range e.ConfigMap.ConfigMap {
			parts = append(parts, string(f.Body))
		}
		a.EffectiveConfig = strings.Join(parts, "\n")
	}
	if r := msg.RemoteConfigStatus; r != nil {
		a.RemoteConfigStatus = r.Status.String()
		a.RemoteConfigError = r.ErrorMessage
		a.RemoteConfigHash = hex.EncodeToString(r.LastRemoteConfigHash)
	}
	if c := msg.CustomCapabilities; c != nil {
		a.CustomCapabilities = c.Capabilities
	}
	if c := msg.CustomMessage; c != nil {
		a.CustomMessages = append(a.CustomMessages, customMessage{c.Capability, c.Type, string(c.Data)})
	}
	if msg.AgentDisconnect != nil {
		a.Disconnected = true
	}
	if a.offered != nil && hex.EncodeToString(a.offered.ConfigHash) != a.RemoteConfigHash {
		resp.RemoteConfig = a.offered
	}
	if s.mode == "unavailable" {
		resp = &protobufs.ServerToAgent{
			InstanceUid: msg.InstanceUid,
			ErrorResponse: &protobufs.ServerErrorResponse{
				Type:         protobufs.ServerErrorResponseType_ServerErrorResponseType_Unavailable,
				ErrorMessage: "the test server is unavailable",
				Details: &protobufs.ServerErrorResponse_RetryInfo{RetryInfo: &protobufs.RetryInfo{
					RetryAfterNanoseconds: uint64(2 * time.Second),
				}},
			},
		}
	}
	return resp
}

// misbehave answers OpAMP requests badly in the non-normal modes, before opamp-go sees them.
func (s *state) misbehave(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		mode := s.mode
		s.mu.Unlock()
		switch mode {
		case "garbage":
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
			_, _ = w.Write([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff garbage, not protobuf"))
		case "oversized":
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
			// A ServerToAgent whose remote_config claims 100 MB, then the bytes.
			chunk := make([]byte, 1<<20)
			_, _ = w.Write([]byte{0x1a, 0x80, 0x80, 0x80, 0x32})
			for i := 0; i < 100; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "close":
			_, _ = io.Copy(io.Discard, r.Body)
			hj, ok := w.(http.Hijacker)
			if !ok {
				return
			}
			conn, buf, err := hj.Hijack()
			if err != nil {
				return
			}
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\n\x0a\x10")
			_ = buf.Flush()
			_ = conn.Close()
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "OpAMP listen address")
	control := flag.String("control", "127.0.0.1:0", "control API listen address")
	certFile := flag.String("tls-cert", "", "server certificate (PEM)")
	keyFile := flag.String("tls-key", "", "server key (PEM)")
	clientCA := flag.String("client-ca", "", "CA that client certificates must chain to (PEM)")
	addrFile := flag.String("addr-file", "", "write 'opamp_addr control_addr' here once listening")
	flag.Parse()

	s := &state{agents: map[string]*agent{}, mode: "normal"}
	srv := server.New(nil)
	transportOf := func(r *http.Request) string {
		if r.Header.Get("Content-Type") == "application/x-protobuf" {
			return "http"
		}
		return "ws"
	}
	settings := server.StartSettings{
		Settings: server.Settings{
			Callbacks: types.Callbacks{
				OnConnecting: func(r *http.Request) types.ConnectionResponse {
					transport := transportOf(r)
					return types.ConnectionResponse{
						Accept: true,
						ConnectionCallbacks: types.ConnectionCallbacks{
							OnMessage: func(_ context.Context, conn types.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
								return s.onMessage(transport, conn, msg)
							},
						},
					}
				},
			},
			CustomCapabilities: []string{"io.oneagent.status"},
		},
		ListenEndpoint: *listen,
		HTTPMiddleware: s.misbehave,
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("loading the server certificate: %v", err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if *clientCA != "" {
			pem, err := os.ReadFile(*clientCA)
			if err != nil {
				log.Fatalf("reading the client CA: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				log.Fatalf("%s holds no certificate", *clientCA)
			}
			cfg.ClientCAs = pool
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
		settings.TLSConfig = cfg
	}
	if err := srv.Start(settings); err != nil {
		log.Fatalf("starting the OpAMP server: %v", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /agents", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		list := []*agent{}
		for _, a := range s.agents {
			list = append(list, a)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("POST /agents/{uid}/config", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		hash := sha256.Sum256(body)
		s.mu.Lock()
		defer s.mu.Unlock()
		a, ok := s.agents[r.PathValue("uid")]
		if !ok {
			http.Error(w, "no such agent", http.StatusNotFound)
			return
		}
		a.offered = &protobufs.AgentRemoteConfig{
			Config: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
				"oneagent.toml": {Body: body, ContentType: "application/toml"},
			}},
			ConfigHash: hash[:],
		}
		// Over WebSocket the offer is pushed at once; over HTTP it goes with the next reply.
		if a.conn != nil {
			uid, _ := hex.DecodeString(a.UID)
			offer := &protobufs.ServerToAgent{InstanceUid: uid, RemoteConfig: a.offered}
			conn := a.conn
			go func() { _ = conn.Send(context.Background(), offer) }()
		}
		fmt.Fprintln(w, hex.EncodeToString(hash[:]))
	})
	mux.HandleFunc("POST /mode", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.mode = strings.TrimSpace(string(body))
		s.mu.Unlock()
		fmt.Fprintln(w, "ok")
	})
	ctl, err := net.Listen("tcp", *control)
	if err != nil {
		log.Fatalf("control listener: %v", err)
	}
	go func() { log.Fatal(http.Serve(ctl, mux)) }()
	line := fmt.Sprintf("%s %s\n", srv.Addr().String(), ctl.Addr().String())
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile+".tmp", []byte(line), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(*addrFile+".tmp", *addrFile); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Print("ready ", line)
	select {}
}
