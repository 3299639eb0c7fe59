namespace RelayAppliance.Host.Commands;

/// <summary>Thrown for a bad command line; relayd prints usage hints and exits 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// relayd's arguments split into words (the verb and its operands), our own flags, and configuration overrides
/// (--Section:Key=value or --Section:Key value) that go to Microsoft.Extensions.Configuration unchanged.
/// </summary>
internal sealed record CommandLine(IReadOnlyList<string> Words, string? ConfigFile, bool Json, bool Help, bool Version, IReadOnlyList<string> Overrides)
{
    public static CommandLine Parse(string[] args)
    {
        var words = new List<string>();
        var overrides = new List<string>();
        string? configFile = null;
        bool json = false, help = false, version = false;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            switch (arg)
            {
                case "--config" or "-c":
                    configFile = i + 1 < args.Length ? args[++i] : throw new UsageException("--config needs a file name");
                    break;
                case "--json":
                    json = true;
                    break;
                case "--help" or "-h" or "help":
                    help = true;
                    break;
                case "--version" or "-V" or "version":
                    version = true;
                    break;
                default:
                    if (arg.StartsWith("--config=", StringComparison.Ordinal))
                    {
                        configFile = arg["--config=".Length..];
                    }
                    else if (arg.StartsWith("--", StringComparison.Ordinal) && arg.Contains(':', StringComparison.Ordinal))
                    {
                        overrides.Add(arg);
                        if (!arg.Contains('=', StringComparison.Ordinal))
                        {
                            overrides.Add(i + 1 < args.Length ? args[++i] : throw new UsageException($"{arg} needs a value"));
                        }
                    }
                    else if (arg.StartsWith('-'))
                    {
                        throw new UsageException($"unknown option '{arg}'");
                    }
                    else
                    {
                        words.Add(arg);
                    }
                    break;
            }
        }
        return new CommandLine(words, configFile, json, help, version, overrides);
    }

    public const string Usage = """
        relayd — RelayAppliance mail relay

        Usage:
          relayd [run]                      start the server (SMTP on 127.0.0.1:2525, spool in ./data by default)
          relayd queue list [--json]        list queued messages (--json: one JSON object per line)
          relayd queue show ID [--json]     show one message's envelope and content
          relayd queue delete ID            remove a message from the queue
          relayd queue bounce ID            fail its pending recipients now and send the sender a DSN
          relayd queue stats [--json]       count messages, pending recipients and bytes
          relayd queue summary [--json]     pending recipients by domain and age (like qshape)
          relayd queue flush [DOMAIN]       retry deferred mail (all, or one domain's) and dead sites now; needs relayd running
          relayd queue hold ID|ALL          keep mail queued without delivery attempts until released
          relayd queue release ID|ALL       undo hold; a running relayd tries the mail at once
          relayd user add ADDRESS           add a user (password from stdin, or prompted on a terminal)
          relayd user passwd ADDRESS        change a user's password
          relayd user del ADDRESS           remove a user
          relayd user list                  list users
          relayd sink --listen HOST:PORT    measuring SMTP sink (like smtp-sink); options below
        """ + "\n" + Load.LoadOptions.Usage + """

          relayd --version | --help

        Options (every command):
          --config FILE                     JSON configuration file
          --Section:Key=value               override one setting, e.g. --Smtp:Listen:0=0.0.0.0:25
        Environment variables RELAYD_Section__Key=value override the file; the command line overrides both.

        Sink options (relayd sink only; no configuration file):
          --reply-mix SPEC                  final replies after DATA, e.g. 250:90,451:7,550:3 (default 250:100)
          --delay MS                        latency before each final reply
          --dump DIR                        write each message, un-stuffed, to DIR instead of discarding it
          --duration T                      stop after T (30, 30s, 5m, 1h); default until SIGINT/SIGTERM
          --json FILE                       write the summary as JSON
          --allow-remote                    listen on a non-loopback address

        Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.
        """;
}
