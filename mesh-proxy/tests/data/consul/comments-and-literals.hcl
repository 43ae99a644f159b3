/* Not an entry: every literal and comment form HCL 1 has. */
count = 3            # an integer
ratio = 0.75         // a float
delta = -12
shift = -2.5
large = 1e6
flags = { on = true, off = false }   /* commas between items */
bare  = { a = 1 b = 2 }              // or none at all
empty_list = []
empty_obj  = {}
"dotted.key-name" = "quoted key"
plain.key = "dotted identifier"
