using System.Buffers;
using System.Text;

namespace RelayAppliance.Protocol.Tests;

/// <summary>Builds the two buffer shapes every parser test runs on: one segment, and one segment per byte.</summary>
internal static class TestSequences
{
    public static IEnumerable<(string Shape, ReadOnlySequence<byte> Sequence)> Shapes(byte[] data)
    {
        yield return ("one segment", new ReadOnlySequence<byte>(data));
        yield return ("segment per byte", SegmentPerByte(data));
    }

    public static IEnumerable<(string Shape, ReadOnlySequence<byte> Sequence)> Shapes(string text) => Shapes(Bytes(text));

    public static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    public static ReadOnlySequence<byte> SegmentPerByte(byte[] data) => RelayAppliance.Testing.BufferSegments.Split(data, 1);
}
