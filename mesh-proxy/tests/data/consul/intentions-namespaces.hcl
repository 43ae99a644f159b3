Kind      = "service-intentions"
Name      = "ledger"
Namespace = "finance"
Partition = "default"
Meta = {
  owner = "payments-team"
  "ticket id" = "FIN-42"
}
Sources = [
  { Name = "*", Namespace = "audit", Action = "allow", Precedence = 8 },
  { Name = "*", Namespace = "*", Action = "deny" }
]
