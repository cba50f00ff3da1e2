package storage

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// ObjectConfig says where the object store is. Zero values mean the local stack's MinIO.
type ObjectConfig struct {
	Endpoint  string `name:"s3-endpoint" help:"MinIO / S3 endpoint URL." default:"http://127.0.0.1:9000" env:"LUFFY_S3_ENDPOINT"`
	AccessKey string `name:"s3-access-key" help:"Object store access key." default:"luffy" env:"LUFFY_S3_ACCESS_KEY"`
	SecretKey string `name:"s3-secret-key" help:"Object store secret key." default:"luffy-dev-secret" env:"LUFFY_S3_SECRET_KEY"`
	Bucket    string `name:"s3-bucket" help:"Bucket that holds videos, homework files and judge data." default:"luffy" env:"LUFFY_S3_BUCKET"`
}

// Objects is the bucket everything large lives in.
type Objects struct {
	*minio.Client
	Bucket string
	// Reads is the client for reads a viewer waits on (HLS files the origin serves). It
	// makes one attempt where the main client retries with backoff for seconds, and it
	// fails at once while the store is known to be down: a network error marks it offline,
	// and a probe every second marks it online again. A viewer gets a quick 503 to retry
	// elsewhere instead of a request held open through an outage.
	Reads *minio.Client
}

// OpenObjects connects to the object store and makes sure the bucket exists.
func OpenObjects(ctx context.Context, cfg ObjectConfig) (*Objects, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = "http://127.0.0.1:9000"
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "luffy"
	}
	if cfg.AccessKey == "" && cfg.SecretKey == "" {
		cfg.AccessKey, cfg.SecretKey = "luffy", "luffy-dev-secret"
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("object store endpoint %q is not a URL", cfg.Endpoint)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     u.Scheme == "https",
		MaxRetries: 5,
	})
	if err != nil {
		return nil, fmt.Errorf("object store client: %w", err)
	}
	reads, err := minio.New(u.Host, &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:     u.Scheme == "https",
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("object store client: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := c.BucketExists(cctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("object store at %s is not reachable (is `make stack` up?): %w", cfg.Endpoint, err)
	}
	if !ok {
		if err := c.MakeBucket(cctx, cfg.Bucket, minio.MakeBucketOptions{}); err != nil {
			if exists, err2 := c.BucketExists(cctx, cfg.Bucket); err2 != nil || !exists {
				return nil, fmt.Errorf("make bucket %s: %w", cfg.Bucket, err)
			}
		}
	}
	// The probe runs for the life of the process, as the client does.
	if _, err := reads.HealthCheck(time.Second); err != nil {
		return nil, fmt.Errorf("object store health check: %w", err)
	}
	return &Objects{Client: c, Bucket: cfg.Bucket, Reads: reads}, nil
}
