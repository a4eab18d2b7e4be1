// go-ingest: the plain Go service that ingest is measured against. It does ingest's job the way
// a Go team would write it with the common libraries: net/http, slack-go's request verifier, and
// franz-go producing with acks=all and the idempotent producer, answering 200 only after the
// broker acknowledged the record. It writes the same envelope with the same key as ingest, so
// the broker does the same work for both. Benchmark use only (loadtest/ingest/ingest-bench.sh).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slack-go/slack"
	"github.com/twmb/franz-go/pkg/kgo"
)

const maxBody = 1 << 20

type event struct {
	Type    string `json:"type"`
	User    string `json:"user"`
	Message *struct {
		User string `json:"user"`
	} `json:"message"`
	PreviousMessage *struct {
		User string `json:"user"`
	} `json:"previous_message"`
}

type callback struct {
	Type      string `json:"type"`
	Challenge string `json:"challenge"`
	TeamID    string `json:"team_id"`
	EventID   string `json:"event_id"`
	Event     *event `json:"event"`
}

func (e *event) actingUser() string {
	if e.User != "" {
		return e.User
	}
	if e.Message != nil && e.Message.User != "" {
		return e.Message.User
	}
	if e.PreviousMessage != nil {
		return e.PreviousMessage.User
	}
	return ""
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The envelope ingest writes (libs/messages/src/envelope.cpp), byte for byte in shape.
func envelope(c *callback, user string, body []byte, r *http.Request) []byte {
	retry, _ := strconv.Atoi(r.Header.Get("X-Slack-Retry-Num"))
	reason := "null"
	if v := r.Header.Get("X-Slack-Retry-Reason"); v != "" {
		reason = quote(v)
	}
	var out bytes.Buffer
	out.Grow(len(body) + 256)
	out.WriteString(`{"schema":"slack-event-envelope/v1","event_id":`)
	out.WriteString(quote(c.EventID))
	out.WriteString(`,"team_id":`)
	out.WriteString(quote(c.TeamID))
	out.WriteString(`,"user_id":`)
	out.WriteString(quote(user))
	out.WriteString(`,"event_type":`)
	out.WriteString(quote(c.Event.Type))
	out.WriteString(`,"received_at":`)
	out.WriteString(quote(time.Now().UTC().Format("2006-01-02T15:04:05.000Z")))
	out.WriteString(`,"retry_num":`)
	out.WriteString(strconv.Itoa(retry))
	out.WriteString(`,"retry_reason":`)
	out.WriteString(reason)
	out.WriteString(`,"payload":`)
	out.Write(body)
	out.WriteString("}")
	return out.Bytes()
}

func fail(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%s,"detail":%s}`, quote(code), quote(detail))
}

func main() {
	address := flag.String("address", "127.0.0.1:3100", "listen address")
	brokers := flag.String("brokers", "127.0.0.1:19092", "Kafka bootstrap brokers, comma-separated")
	topic := flag.String("topic", "slack-events", "topic to produce to")
	linger := flag.Duration("linger", 0, "producer linger (franz-go default 0)")
	compression := flag.String("compression", "snappy", "none, snappy, lz4, zstd or gzip (franz-go default snappy)")
	timeout := flag.Duration("publish-timeout", 2*time.Second, "how long a request waits for the broker")
	flag.Parse()
	secret := os.Getenv("SLACK_SIGNING_SECRET")
	if secret == "" {
		log.Fatal("go-ingest: SLACK_SIGNING_SECRET is required")
	}
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(),
		"zstd": kgo.ZstdCompression(), "gzip": kgo.GzipCompression(),
	}
	codec, ok := codecs[*compression]
	if !ok {
		log.Fatalf("go-ingest: unknown --compression %q", *compression)
	}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.DefaultProduceTopic(*topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(*linger),
		kgo.ProducerBatchCompression(codec),
		kgo.RecordDeliveryTimeout(*timeout),
	)
	if err != nil {
		log.Fatalf("go-ingest: %v", err)
	}
	defer client.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/slack/events", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			fail(w, http.StatusMethodNotAllowed, "method_not_allowed", "POST only")
			return
		}
		verifier, err := slack.NewSecretsVerifier(r.Header, secret)
		if err != nil {
			fail(w, http.StatusUnauthorized, "invalid_signature", err.Error())
			return
		}
		body, err := io.ReadAll(io.TeeReader(http.MaxBytesReader(w, r.Body, maxBody), &verifier))
		if err != nil {
			fail(w, http.StatusRequestEntityTooLarge, "body_too_large", err.Error())
			return
		}
		if err := verifier.Ensure(); err != nil {
			fail(w, http.StatusUnauthorized, "invalid_signature", err.Error())
			return
		}
		var c callback
		if err := json.Unmarshal(body, &c); err != nil {
			fail(w, http.StatusBadRequest, "bad_request", "body is not JSON")
			return
		}
		switch c.Type {
		case "url_verification":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"challenge":%s}`, quote(c.Challenge))
			return
		case "event_callback":
		default:
			fail(w, http.StatusBadRequest, "bad_request", "unknown type")
			return
		}
		if c.Event == nil || c.TeamID == "" || c.EventID == "" {
			fail(w, http.StatusBadRequest, "bad_request", "event_callback without event, team_id or event_id")
			return
		}
		user := c.Event.actingUser()
		record := &kgo.Record{Key: []byte(c.TeamID + ":" + user), Value: envelope(&c, user, body, r)}
		ctx, cancel := context.WithTimeout(r.Context(), *timeout)
		defer cancel()
		if err := client.ProduceSync(ctx, record).FirstErr(); err != nil {
			w.Header().Set("Retry-After", "1")
			fail(w, http.StatusServiceUnavailable, "not_durable", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	})
	server := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	listener, err := net.Listen("tcp", *address)
	if err != nil {
		log.Fatalf("go-ingest: %v", err)
	}
	// The same line ingest's benchmark scripts wait for.
	fmt.Printf("listening on %s\n", listener.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		server.Shutdown(ctx)
	}()
	if err := server.Serve(listener); err != nil && err != http.ErrServerClosed {
		log.Fatalf("go-ingest: %v", err)
	}
}
