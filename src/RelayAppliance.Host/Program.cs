using System.Reflection;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Configuration;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace RelayAppliance.Host;

internal static class Program
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;

    public static async Task<int> Main(string[] args)
    {
        CommandLine commandLine;
        try
        {
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
            return words.Count == 0 ? await RunCommand.RunAsync(configuration).ConfigureAwait(false) : words[0] switch
            {
                "run" when words.Count == 1 => await RunCommand.RunAsync(configuration).ConfigureAwait(false),
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

    private static int UsageError(string message)
    {
        Console.Error.WriteLine($"relayd: {message}");
        Console.Error.WriteLine("Try 'relayd --help'.");
        return ExitUsage;
    }
}
