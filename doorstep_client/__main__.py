from doorstep_client.cli import main

raise SystemExit(main())
