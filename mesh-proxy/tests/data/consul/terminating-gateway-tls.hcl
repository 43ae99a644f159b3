Kind      = "terminating-gateway"
Name      = "lambda-gateway"
Namespace = "edge"
Services = [
  {
    Name     = "billing-api"
    CAFile   = "/etc/ssl/billing-ca.pem"
    CertFile = "/etc/ssl/gateway.pem"
    KeyFile  = "/etc/ssl/gateway-key.pem"
    SNI      = "billing.example.com"
  },
  { Name = "resizer", Namespace = "media", DisableAutoHostRewrite = true },
]
CreateIndex = 17
ModifyIndex = 0x20
