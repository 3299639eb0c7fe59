using System.Buffers;

namespace RelayAppliance.Benchmarks.Parsing;

/// <summary>Builds multi-segment sequences for slow-path benchmarks.</summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Split(byte[] data, int segmentSize) => RelayAppliance.Testing.BufferSegments.Split(data, segmentSize);
}
