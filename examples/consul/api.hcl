# The calling service of Consul's Lambda walkthrough, as written for `consul services register`:
# `api` reaches the Lambda-backed service `authentication` through its sidecar on localhost:2345.
# mesh-proxy reads this file unchanged (`--service-file api.hcl` or [consul] service_files) and
# listens on 127.0.0.1:2345 as that sidecar's upstream.
service {
  name = "api"
  port = 9090

  check {
    id       = "api-http"
    http     = "http://localhost:9090/health"
    interval = "10s"
  }

  connect {
    sidecar_service {
      proxy {
        upstreams {
          destination_name = "authentication"
          local_bind_port  = 2345
        }
      }
    }
  }
}
