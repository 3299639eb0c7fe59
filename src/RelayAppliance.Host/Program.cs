using System.Globalization;
using System.Reflection;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Host.Load;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace RelayAppliance.Host;

internal static class Program
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    private const string SocketThreadsVariable = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    private static int ServerSocketThreads => Math.Max(1, Environment.ProcessorCount / 2);

    public static async Task<int> Main(string[] args)
    {
        // Run socket completions on the epoll thread instead of hopping to the thread pool: our continuations
        // never block (PBKDF2 runs on the pool), and on a 2-core box it cut CPU per message by ~18 % and raised
        // smtp-source throughput by ~25 % (perf/RESULTS.md). Must be set before the first socket is created;
        // an operator's explicit DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0 wins.
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }
        // With inline completions .NET runs one socket thread per core; relayd's servers run one per two cores. Each
        // thread then handles more events per wake-up (wake-ups are dear on a VM), and the other cores are left to the
        // commit thread, the pool (a commit releases its sessions there) and whatever shares the machine. On a 2-vCPU
        // VM that cut CPU per message nearly everywhere: durable ingest at one message per connection +20 %, end-to-end
        // 100 KiB +15-20 %, STARTTLS +10 %; end-to-end 1 KiB at 100 per connection lost 8 % (perf/RESULTS.md items 21,
        // 23). The load generator keeps .NET's default, as the reference every system is measured with. An explicit
        // variable wins.
        if (args is not ["load", ..] && Environment.GetEnvironmentVariable(SocketThreadsVariable) is null)
        {
            Environment.SetEnvironmentVariable(SocketThreadsVariable, ServerSocketThreads.ToString(CultureInfo.InvariantCulture));
        }
        // `sink` and `load` parse options of their own; asked for help, they print the usage like every command.
        if (args is ["sink", .. var sinkArgs] && !AsksForHelp(sinkArgs))
        {
            return await SinkCommand.RunAsync(args[1..], Console.Out, Console.Error).ConfigureAwait(false); // its own options
        }
        CommandLine commandLine;
        try
        {
            // `load` has options of its own (--json FILE, --target …) and needs no configuration or spool.
            if (args is ["load", .. var loadArgs] && !AsksForHelp(loadArgs))
            {
                return await LoadCommand.RunAsync(loadArgs, Console.Out, Console.Error).ConfigureAwait(false);
            }
            commandLine = CommandLine.Parse(args);
        }
        catch (UsageException e)
        {
            return UsageError(e.Message);
        }
        if (commandLine.Version)
        {
            Console.WriteLine($"relayd {Version}");
            return ExitOk;
        }
        if (commandLine.Help)
        {
            Console.WriteLine(CommandLine.Usage);
            return ExitOk;
        }

        RelaydConfiguration configuration;
        try
        {
            configuration = SettingsLoader.Load(commandLine.ConfigFile, commandLine.Overrides);
        }
        catch (ConfigurationException e)
        {
            Console.Error.WriteLine($"relayd: configuration error: {e.Message}");
            return ExitUsage;
        }

        var words = commandLine.Words;
        try
        {
            // SIGHUP re-reads the same file, the environment and these overrides.
            RelaydConfiguration Reload() => SettingsLoader.Load(commandLine.ConfigFile, commandLine.Overrides);
            return words.Count == 0 ? await RunCommand.RunAsync(configuration, Reload).ConfigureAwait(false) : words[0] switch
            {
                "run" when words.Count == 1 => await RunCommand.RunAsync(configuration, Reload).ConfigureAwait(false),
                "queue" => await QueueCommand.RunAsync(configuration, words.Skip(1).ToArray(), commandLine.Json, Console.Out, Console.Error).ConfigureAwait(false),
                "user" => UserCommand.Run(configuration, words.Skip(1).ToArray(), Console.Out, Console.Error),
                _ => throw new UsageException($"unknown command '{string.Join(' ', words)}'"),
            };
        }
        catch (UsageException e)
        {
            return UsageError(e.Message);
        }
        catch (ConfigurationException e)
        {
            Console.Error.WriteLine($"relayd: configuration error: {e.Message}");
            return ExitUsage;
        }
    }

    public static string Version =>
        typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    private static bool AsksForHelp(string[] args) => args.Contains("--help") || args.Contains("-h");

    private static int UsageError(string message)
    {
        Console.Error.WriteLine($"relayd: {message}");
        Console.Error.WriteLine("Try 'relayd --help'.");
        return ExitUsage;
    }
}
